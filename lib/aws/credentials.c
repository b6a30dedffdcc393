/*
 * The AWS SDKs' credential and region chain, limited to what privtrack
 * needs: environment, then the shared credentials file, then the config
 * file, for one profile.  Secrets are wiped when freed and never appear in
 * an error message.
 */
#include "aws/sigv4.h"

#include <openssl/crypto.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *
env_nonempty(const char *name)
{
    const char *v = getenv(name);
    return (v && *v) ? v : NULL;
}

static char *
trim(char *s)
{
    char *end;
    while (*s == ' ' || *s == '\t')
        s++;
    end = s + strlen(s);
    while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' ||
                       end[-1] == '\n'))
        *--end = '\0';
    return s;
}

/* Look `key` up in `[section]` of the INI-like AWS file at `path`.
 * Returns 1 and a malloc'd value in *out, 0 when absent, -1 when the file
 * cannot be read (errno set).  The line buffer is wiped: it may have held a
 * secret. */
static int
ini_lookup(const char *path, const char *section, const char *key, char **out)
{
    char line[4096];
    int in_section = 0, found = 0, fd;
    FILE *f = NULL;

    *out = NULL;
    /* A regular file only: a FIFO would block the tracker's first
     * request.  Refused or unreadable counts as absent. */
    switch (pt__fs_open_path(&fd, path, O_RDONLY,
                             PT_FS_ANY_DIR | PT_FS_FOLLOW_OWNED)) {
    case PT_OK:
        f = fdopen(fd, "r");
        if (!f)
            close(fd);
        break;
    case PT_EACCESS:
        pt__log(PT_LOG_WARN, "AWS settings: %s; ignored", pt_last_error());
        break;
    default:
        break;
    }
    if (!f)
        return -1;
    while (!found && fgets(line, sizeof(line), f)) {
        char *s = trim(line), *eq;
        if (*s == '#' || *s == ';' || *s == '\0')
            continue;
        if (*s == '[') {
            char *close = strchr(s, ']');
            if (close) {
                *close = '\0';
                in_section = strcmp(trim(s + 1), section) == 0;
            }
            continue;
        }
        eq = strchr(s, '=');
        if (!in_section || !eq)
            continue;
        *eq = '\0';
        if (strcmp(trim(s), key) == 0) {
            *out = pt__strdup(trim(eq + 1));
            found = *out ? 1 : 0;
        }
    }
    OPENSSL_cleanse(line, sizeof(line));
    fclose(f);
    return found;
}

static const char *
profile_name(void)
{
    const char *p = env_nonempty("AWS_PROFILE");
    return p ? p : "default";
}

/* Path of an AWS file: the environment override, else ~/.aws/<name>. */
static void
aws_file_path(char *out, size_t size, const char *env, const char *name)
{
    const char *over = env_nonempty(env);
    const char *home = env_nonempty("HOME");
    if (over)
        pt__snprintf(out, size, "%s", over);
    else
        pt__snprintf(out, size, "%s/.aws/%s", home ? home : ".", name);
}

/* The config file names profiles "[profile NAME]", except "[default]". */
static void
config_section(char *out, size_t size, const char *profile)
{
    if (strcmp(profile, "default") == 0)
        pt__snprintf(out, size, "default");
    else
        pt__snprintf(out, size, "profile %s", profile);
}

static void
wipe_string(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

void
pt_aws_credentials_free(pt_aws_credentials *creds)
{
    if (!creds)
        return;
    wipe_string(creds->access_key_id);
    wipe_string(creds->secret_access_key);
    wipe_string(creds->session_token);
    creds->access_key_id = creds->secret_access_key = NULL;
    creds->session_token = NULL;
}

static int
from_environment(pt_aws_credentials *out)
{
    const char *id = env_nonempty("AWS_ACCESS_KEY_ID");
    const char *secret = env_nonempty("AWS_SECRET_ACCESS_KEY");
    const char *token = env_nonempty("AWS_SESSION_TOKEN");

    if (!id || !secret)
        return 0;
    out->access_key_id = pt__strdup(id);
    out->secret_access_key = pt__strdup(secret);
    out->session_token = token ? pt__strdup(token) : NULL;
    pt__snprintf(out->source, sizeof(out->source), "environment");
    if (!out->access_key_id || !out->secret_access_key ||
        (token && !out->session_token))
        return -1;
    return 1;
}

/* 1: found, 0: not there, -1: out of memory. */
static int
from_file(pt_aws_credentials *out, const char *path, const char *section,
          const char *what)
{
    char *id = NULL, *secret = NULL, *token = NULL;
    if (ini_lookup(path, section, "aws_access_key_id", &id) != 1 ||
        ini_lookup(path, section, "aws_secret_access_key", &secret) != 1 ||
        !*id || !*secret) {
        wipe_string(id);
        wipe_string(secret);
        return 0;
    }
    ini_lookup(path, section, "aws_session_token", &token);
    if (token && !*token) {
        free(token);
        token = NULL;
    }
    out->access_key_id = id;
    out->secret_access_key = secret;
    out->session_token = token;
    pt__snprintf(out->source, sizeof(out->source), "%s %s, [%s]", what, path,
                 section);
    return 1;
}

int
pt_aws_credentials_load(pt_aws_credentials *out)
{
    char creds_path[1024], config_path[1024], section[256];
    const char *profile = profile_name();
    int found;

    memset(out, 0, sizeof(*out));
    found = from_environment(out);
    if (found == 0) {
        aws_file_path(creds_path, sizeof(creds_path),
                      "AWS_SHARED_CREDENTIALS_FILE", "credentials");
        found = from_file(out, creds_path, profile, "shared credentials file");
    }
    if (found == 0) {
        aws_file_path(config_path, sizeof(config_path), "AWS_CONFIG_FILE",
                      "config");
        config_section(section, sizeof(section), profile);
        found = from_file(out, config_path, section, "config file");
    }
    if (found == 1)
        return PT_OK;
    pt_aws_credentials_free(out);
    if (found < 0)
        return pt__fail(PT_ENOMEM, "out of memory loading AWS credentials");
    return pt__fail(PT_ECREDENTIALS,
                    "no AWS credentials: looked for AWS_ACCESS_KEY_ID and "
                    "AWS_SECRET_ACCESS_KEY in the environment, then profile "
                    "'%s' in %s and in %s",
                    profile, creds_path, config_path);
}

int
pt_aws_region_resolve(char *out, size_t size, const char *configured)
{
    char path[1024], section[256];
    const char *v = (configured && *configured) ? configured : NULL;
    char *from_config = NULL;

    if (!v)
        v = env_nonempty("AWS_REGION");
    if (!v)
        v = env_nonempty("AWS_DEFAULT_REGION");
    if (!v) {
        aws_file_path(path, sizeof(path), "AWS_CONFIG_FILE", "config");
        config_section(section, sizeof(section), profile_name());
        if (ini_lookup(path, section, "region", &from_config) == 1 &&
            *from_config)
            v = from_config;
    }
    if (!v) {
        free(from_config);
        return pt__fail(PT_EINVAL,
                        "no AWS region: set [storage] region, AWS_REGION or "
                        "AWS_DEFAULT_REGION, or 'region' for profile '%s' in "
                        "%s",
                        profile_name(), path);
    }
    if (strlen(v) >= size ||
        strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(v)) {
        free(from_config);
        return pt__fail(PT_EINVAL, "invalid AWS region name");
    }
    pt__snprintf(out, size, "%s", v);
    free(from_config);
    return PT_OK;
}
