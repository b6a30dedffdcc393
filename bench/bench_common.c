/* nftw() */
#define _XOPEN_SOURCE 700

#include "bench_common.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

uint64_t
pt_bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double
pt_bench_cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec * 1e6 + (double)ru.ru_utime.tv_usec +
           (double)ru.ru_stime.tv_sec * 1e6 + (double)ru.ru_stime.tv_usec;
}

double
pt_bench_server_cpu_us(void)
{
    const char *pid = getenv("BENCH_SERVER_PID");
    char path[64], line[1024], *p;
    unsigned long long utime, stime;
    long hz = sysconf(_SC_CLK_TCK);
    FILE *f;
    int ok;

    if (!pid || !*pid || hz <= 0)
        return -1;
    snprintf(path, sizeof path, "/proc/%s/stat", pid);
    if (!(f = fopen(path, "r")))
        return -1;
    ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    /* the command name may hold spaces: fields 14 and 15 count from the
     * last ')' */
    if (!ok || !(p = strrchr(line, ')')) ||
        sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
               &utime, &stime) != 2)
        return -1;
    return (double)(utime + stime) * 1e6 / (double)hz;
}

void
pt_bench_cpu_split_us(double *user, double *sys)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    *user = (double)ru.ru_utime.tv_sec * 1e6 + (double)ru.ru_utime.tv_usec;
    *sys = (double)ru.ru_stime.tv_sec * 1e6 + (double)ru.ru_stime.tv_usec;
}

double
pt_bench_vm_mb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t flen = strlen(field);
    double mb = 0;

    if (!f)
        return 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
            mb = strtod(line + flen + 1, NULL) / 1024.0; /* kB */
            break;
        }
    }
    fclose(f);
    return mb;
}

void
pt_bench_emit(const char *key, double value, const char *unit)
{
    printf("{\"side\":\"privtrack\",\"key\":\"%s\",\"value\":%.6g,"
           "\"unit\":\"%s\"}\n",
           key, value, unit);
    fflush(stdout);
}

size_t
pt_bench_env_size(const char *name, size_t fallback)
{
    const char *v = getenv(name);
    char *end;
    unsigned long long n;

    if (!v || !*v)
        return fallback;
    errno = 0;
    n = strtoull(v, &end, 10);
    if (errno || *end)
        pt_bench_die("%s=%s is not a number", name, v);
    return (size_t)n;
}

void
pt_bench_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

/* ---- visits --------------------------------------------------------------
 */

static const pt_header headers[] = {
    {"User-Agent",
     "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"},
    {"Accept-Language", "en-GB,en;q=0.8"},
};
static const char *const links[] = {
    "https://www.youtube.com/watch?v=abc123&list=PL9x&t=42",
    "https://soundcloud.com/artist/track-xyz?utm_source=share",
};
static const char *const filenames[] = {"Song Title 1.m4a", "Song Title 2.m4a"};

/* Decimal digits of n (0-255) at p; returns the end. */
static char *
put_octet(char *p, unsigned n)
{
    if (n >= 100)
        *p++ = (char)('0' + n / 100);
    if (n >= 10)
        *p++ = (char)('0' + n / 10 % 10);
    *p++ = (char)('0' + n % 10);
    return p;
}

/* snprintf() would cost more than some of what is measured (and a table of
 * 65,536 ready-made addresses would count in the memory benchmark), so the
 * address is formatted by hand.  Same formula as visit_ip() in
 * bench_baseline.py. */
void
pt_bench_visit(pt_visit *visit, size_t i, char addr[16])
{
    pt_visit v = PT_VISIT_INIT;
    char *p = addr;

    memcpy(p, "198.51.", 7);
    p = put_octet(p + 7, (unsigned)(i >> 8) & 0xffu);
    *p++ = '.';
    p = put_octet(p, (unsigned)i & 0xffu);
    *p = '\0';
    v.remote_addr = addr;
    v.headers = headers;
    v.header_count = sizeof headers / sizeof headers[0];
    v.links = links;
    v.link_count = sizeof links / sizeof links[0];
    v.filenames = filenames;
    v.filename_count = sizeof filenames / sizeof filenames[0];
    *visit = v;
}

/* ---- policies ------------------------------------------------------------
 */

typedef struct text {
    char *ptr;
    size_t len, cap;
} text;

static void
text_add(text *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        t->ptr = realloc(t->ptr, t->cap);
        if (!t->ptr)
            pt_bench_die("out of memory");
    }
    memcpy(t->ptr + t->len, s, n);
    t->len += n;
    t->ptr[t->len] = '\0';
}

static void
text_setting(text *t, const pt_bench_setting *s)
{
    if (!s->value)
        return;
    text_add(t, s->key, strlen(s->key));
    text_add(t, " = ", 3);
    text_add(t, s->value, strlen(s->value));
    text_add(t, "\n", 1);
}

/* The key on an INI line ("key = value"), or 0 when the line is not one. */
static size_t
line_key(const char *line, size_t len, const char **key)
{
    size_t k = 0;
    if (len == 0 || isspace((unsigned char)line[0]) || line[0] == ';' ||
        line[0] == '#' || line[0] == '[')
        return 0;
    while (k < len && line[k] != '=' && !isspace((unsigned char)line[k]))
        k++;
    *key = line;
    return k;
}

/* Append the settings of `section` not applied yet (keys the file lacks). */
static void
flush_section(text *t, const char *section, const pt_bench_setting *settings,
              size_t count, unsigned char *applied)
{
    for (size_t i = 0; i < count; i++) {
        if (!applied[i] && strcmp(settings[i].section, section) == 0) {
            text_setting(t, &settings[i]);
            applied[i] = 1;
        }
    }
}

static char *
policy_text(const pt_bench_setting *settings, size_t count)
{
    const char *p = pt_policy_default_text();
    text t = {0};
    char section[64] = "";
    unsigned char applied[64] = {0};
    int skipping = 0; /* continuation lines of a replaced key */

    if (count > sizeof applied)
        pt_bench_die("too many policy settings");
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        const char *key;
        size_t klen = line_key(p, len, &key);
        int replaced = 0;

        if (len && p[0] == '[') {
            flush_section(&t, section, settings, count, applied);
            const char *end = memchr(p, ']', len);
            size_t n = end ? (size_t)(end - p - 1) : 0;
            if (n >= sizeof section)
                n = sizeof section - 1;
            memcpy(section, p + 1, n);
            section[n] = '\0';
            skipping = 0;
        } else if (len && isspace((unsigned char)p[0]) && skipping) {
            replaced = 1;
        } else {
            skipping = 0;
        }
        for (size_t i = 0; klen && i < count; i++) {
            if (strcmp(settings[i].section, section) == 0 &&
                strlen(settings[i].key) == klen &&
                memcmp(settings[i].key, key, klen) == 0) {
                text_setting(&t, &settings[i]);
                applied[i] = 1;
                replaced = 1;
                skipping = 1;
            }
        }
        if (!replaced) {
            text_add(&t, p, len);
            text_add(&t, "\n", 1);
        }
        p += len + (nl ? 1 : 0);
    }
    flush_section(&t, section, settings, count, applied);
    for (size_t i = 0; i < count; i++) { /* sections the file lacks */
        if (!applied[i] && settings[i].value) {
            text_add(&t, "[", 1);
            text_add(&t, settings[i].section, strlen(settings[i].section));
            text_add(&t, "]\n", 2);
            flush_section(&t, settings[i].section, settings, count, applied);
        }
    }
    return t.ptr;
}

pt_policy *
pt_bench_policy(const pt_bench_setting *settings, size_t count)
{
    char *ini = policy_text(settings, count);
    pt_policy *policy = NULL;
    int rc = pt_policy_load_buffer(&policy, ini, strlen(ini), "bench.ini");

    if (rc != PT_OK) {
        pt_bench_die("policy: %s: %s", pt_strerror(rc), pt_last_error());
    }
    free(ini);
    return policy;
}

pt_tracker *
pt_bench_tracker(const pt_policy *policy, const pt_tracker_options *opts)
{
    pt_tracker *tracker = NULL;
    int rc = pt_tracker_open(&tracker, policy, opts);
    if (rc != PT_OK)
        pt_bench_die("pt_tracker_open: %s: %s", pt_strerror(rc),
                     pt_last_error());
    return tracker;
}

/* ---- scratch directories -------------------------------------------------
 */

char *
pt_bench_mkdtemp(const char *prefix)
{
    const char *base = getenv("PT_BENCH_TMP");
    char *path;
    size_t n;

    if (!base || !*base)
        base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    (void)mkdir(base, 0700); /* $PT_BENCH_TMP may not exist yet */
    n = strlen(base) + strlen(prefix) + 16;
    path = malloc(n);
    if (!path)
        pt_bench_die("out of memory");
    snprintf(path, n, "%s/%s.XXXXXX", base, prefix);
    if (!mkdtemp(path))
        pt_bench_die("mkdtemp %s: %s", path, strerror(errno));
    return path;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void
pt_bench_rmtree(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

uint64_t
pt_bench_count_lines(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    uint64_t lines = 0;
    size_t slen = strlen(suffix);
    static char buf[1 << 16];

    if (!d)
        return 0;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        char path[4096];
        ssize_t got;
        int fd;

        if (n < slen || strcmp(e->d_name + n - slen, suffix) != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        fd = open(path, O_RDONLY);
        if (fd < 0)
            continue;
        while ((got = read(fd, buf, sizeof buf)) > 0)
            for (ssize_t i = 0; i < got; i++)
                lines += buf[i] == '\n';
        close(fd);
    }
    closedir(d);
    return lines;
}
