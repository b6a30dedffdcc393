/*
 * Credentials chain, region resolution and endpoint validation, with the
 * environment and AWS files pointed at a temporary directory.
 */
#include "aws/ddb_client.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static char tmpdir[512];
static char creds_path[600];
static char config_path[600];

static const char *clear_vars[] = {
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN", "AWS_PROFILE",
    "AWS_REGION",        "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",  "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_CONFIG_FILE",   "AWS_SHARED_CREDENTIALS_FILE"};

static void
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int
setup(void **state)
{
    const char *t = getenv("TMPDIR");
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "%s/pt-aws-config-XXXXXX",
             t && *t ? t : "/tmp");
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(creds_path, sizeof(creds_path), "%s/credentials", tmpdir);
    snprintf(config_path, sizeof(config_path), "%s/config", tmpdir);
    for (size_t i = 0; i < sizeof(clear_vars) / sizeof(*clear_vars); i++)
        unsetenv(clear_vars[i]);
    setenv("HOME", tmpdir, 1); /* no ~/.aws of the machine leaks in */
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    unlink(creds_path);
    unlink(config_path);
    rmdir(tmpdir);
    return 0;
}

static int
reset(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(clear_vars) / sizeof(*clear_vars); i++)
        unsetenv(clear_vars[i]);
    unlink(creds_path);
    unlink(config_path);
    setenv("AWS_SHARED_CREDENTIALS_FILE", creds_path, 1);
    setenv("AWS_CONFIG_FILE", config_path, 1);
    return 0;
}

static void
test_environment_first(void **state)
{
    pt_aws_credentials c;
    (void)state;
    write_file(creds_path, "[default]\naws_access_key_id = FILEID\n"
                           "aws_secret_access_key = FILESECRET\n");
    setenv("AWS_ACCESS_KEY_ID", "ENVID", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "ENVSECRET", 1);
    setenv("AWS_SESSION_TOKEN", "ENVTOKEN", 1);
    assert_int_equal(pt_aws_credentials_load(&c), PT_OK);
    assert_string_equal(c.access_key_id, "ENVID");
    assert_string_equal(c.secret_access_key, "ENVSECRET");
    assert_string_equal(c.session_token, "ENVTOKEN");
    assert_string_equal(c.source, "environment");
    pt_aws_credentials_free(&c);
    assert_null(c.secret_access_key);
}

static void
test_shared_file_profiles(void **state)
{
    pt_aws_credentials c;
    (void)state;
    write_file(creds_path,
               "# comment\n[default]\naws_access_key_id=DEFID\n"
               "aws_secret_access_key=DEFSECRET\n\n[work]\n"
               "aws_access_key_id = WORKID \naws_secret_access_key = "
               "WORKSECRET\naws_session_token = WORKTOKEN\n");
    assert_int_equal(pt_aws_credentials_load(&c), PT_OK);
    assert_string_equal(c.access_key_id, "DEFID");
    assert_null(c.session_token);
    assert_non_null(strstr(c.source, "[default]"));
    pt_aws_credentials_free(&c);
    setenv("AWS_PROFILE", "work", 1);
    assert_int_equal(pt_aws_credentials_load(&c), PT_OK);
    assert_string_equal(c.access_key_id, "WORKID");
    assert_string_equal(c.secret_access_key, "WORKSECRET");
    assert_string_equal(c.session_token, "WORKTOKEN");
    assert_non_null(strstr(c.source, creds_path));
    assert_null(strstr(c.source, "SECRET"));
    pt_aws_credentials_free(&c);
}

static void
test_config_file_credentials(void **state)
{
    pt_aws_credentials c;
    (void)state;
    setenv("AWS_PROFILE", "ops", 1);
    write_file(config_path, "[profile ops]\naws_access_key_id = OPSID\n"
                            "aws_secret_access_key = OPSSECRET\n");
    assert_int_equal(pt_aws_credentials_load(&c), PT_OK);
    assert_string_equal(c.access_key_id, "OPSID");
    pt_aws_credentials_free(&c);
}

static void
test_missing_credentials(void **state)
{
    pt_aws_credentials c;
    (void)state;
    setenv("AWS_ACCESS_KEY_ID", "ONLYID", 1); /* no secret: not enough */
    setenv("AWS_PROFILE", "nobody", 1);
    write_file(creds_path, "[default]\naws_access_key_id = X\n"
                           "aws_secret_access_key = TOPSECRET\n");
    assert_int_equal(pt_aws_credentials_load(&c), PT_ECREDENTIALS);
    const char *msg = pt_last_error();
    assert_non_null(strstr(msg, "AWS_ACCESS_KEY_ID"));
    assert_non_null(strstr(msg, "AWS_SECRET_ACCESS_KEY"));
    assert_non_null(strstr(msg, "'nobody'"));
    assert_non_null(strstr(msg, creds_path));
    assert_non_null(strstr(msg, config_path));
    assert_null(strstr(msg, "TOPSECRET"));
    assert_null(c.access_key_id);
}

static void
test_region_order(void **state)
{
    char r[64];
    (void)state;
    assert_int_equal(pt_aws_region_resolve(r, sizeof(r), NULL), PT_EINVAL);
    assert_non_null(strstr(pt_last_error(), "AWS_REGION"));
    write_file(config_path, "[default]\nregion = eu-north-1\n"
                            "[profile x]\nregion = ap-south-1\n");
    assert_int_equal(pt_aws_region_resolve(r, sizeof(r), NULL), PT_OK);
    assert_string_equal(r, "eu-north-1");
    setenv("AWS_PROFILE", "x", 1);
    assert_int_equal(pt_aws_region_resolve(r, sizeof(r), ""), PT_OK);
    assert_string_equal(r, "ap-south-1");
    setenv("AWS_DEFAULT_REGION", "us-west-1", 1);
    assert_int_equal(pt_aws_region_resolve(r, sizeof(r), NULL), PT_OK);
    assert_string_equal(r, "us-west-1");
    setenv("AWS_REGION", "us-east-2", 1);
    assert_int_equal(pt_aws_region_resolve(r, sizeof(r), NULL), PT_OK);
    assert_string_equal(r, "us-east-2");
    assert_int_equal(pt_aws_region_resolve(r, sizeof(r), "eu-west-3"), PT_OK);
    assert_string_equal(r, "eu-west-3");
    assert_int_equal(pt_aws_region_resolve(r, sizeof(r), "bad/region"),
                     PT_EINVAL);
}

static void
expect_endpoint(const char *url, int rc, const char *want_url,
                const char *want_host)
{
    pt_aws_endpoint e;
    int got = pt_aws_endpoint_resolve(&e, url, "eu-west-3");
    if (got != rc)
        fail_msg("%s: rc %d, wanted %d (%s)", url ? url : "(null)", got, rc,
                 pt_last_error());
    if (rc == PT_OK) {
        assert_string_equal(e.url, want_url);
        assert_string_equal(e.host, want_host);
    }
}

static void
test_endpoints(void **state)
{
    (void)state;
    expect_endpoint(NULL, PT_OK, "https://dynamodb.eu-west-3.amazonaws.com/",
                    "dynamodb.eu-west-3.amazonaws.com");
    expect_endpoint("http://127.0.0.1:8000", PT_OK, "http://127.0.0.1:8000/",
                    "127.0.0.1:8000");
    expect_endpoint("http://127.9.8.7:1/", PT_OK, "http://127.9.8.7:1/",
                    "127.9.8.7:1");
    expect_endpoint("http://localhost:8000", PT_OK, "http://localhost:8000/",
                    "localhost:8000");
    expect_endpoint("http://[::1]:8000", PT_OK, "http://[::1]:8000/",
                    "[::1]:8000");
    expect_endpoint("https://ddb.example.com", PT_OK,
                    "https://ddb.example.com/", "ddb.example.com");
    /* plain http beyond loopback, odd URLs */
    expect_endpoint("http://10.0.0.1:8000", PT_EPOLICY, NULL, NULL);
    expect_endpoint("http://ddb.example.com", PT_EPOLICY, NULL, NULL);
    expect_endpoint("http://128.0.0.1", PT_EPOLICY, NULL, NULL);
    expect_endpoint("http://[::2]:80", PT_EPOLICY, NULL, NULL);
    expect_endpoint("http://localhost.evil.com", PT_EPOLICY, NULL, NULL);
    expect_endpoint("http://user@127.0.0.1", PT_EPOLICY, NULL, NULL);
    expect_endpoint("ftp://127.0.0.1", PT_EPOLICY, NULL, NULL);
    expect_endpoint("https://h/path", PT_EPOLICY, NULL, NULL);
    expect_endpoint("http://127.0.0.1:99999", PT_EPOLICY, NULL, NULL);
    expect_endpoint("http://127.0.0.1:", PT_EPOLICY, NULL, NULL);
    /* environment order */
    setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1111", 1);
    expect_endpoint(NULL, PT_OK, "http://127.0.0.1:1111/", "127.0.0.1:1111");
    setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:2222", 1);
    expect_endpoint(NULL, PT_OK, "http://127.0.0.1:2222/", "127.0.0.1:2222");
    expect_endpoint("http://127.0.0.1:3333", PT_OK, "http://127.0.0.1:3333/",
                    "127.0.0.1:3333");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_environment_first, reset),
        cmocka_unit_test_setup(test_shared_file_profiles, reset),
        cmocka_unit_test_setup(test_config_file_credentials, reset),
        cmocka_unit_test_setup(test_missing_credentials, reset),
        cmocka_unit_test_setup(test_region_order, reset),
        cmocka_unit_test_setup(test_endpoints, reset),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
