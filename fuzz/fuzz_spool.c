/*
 * Fuzz target: spool segments and their progress files, as a process that
 * finds them left behind by a crashed one reads them (status, then replay).
 *
 * Input: byte 0 holds flags (bit 0: write a progress file; bits 1-2: the
 * replay step, 1, 3, 8 or 64 records; bit 3: give every line of the form
 * "<8 hex> <rest>" its correct CRC, so that the record parser is reached).
 * The rest is the progress file's text up to and including the first
 * '\n', then the segment's bytes.
 *
 * Properties, each a FUZZ_CHECK (abort) when broken:
 *  - pt__spool_offset_parse() accepts exactly decimal digits (an optional
 *    final '\n') that fit in 64 bits, with their value;
 *  - status succeeds, counts no more records than the segment has
 *    newlines, and no more bytes than it has;
 *  - replay never fails for good: every step succeeds, the spool drains in
 *    a bounded number of steps, and the segment and its progress file are
 *    gone afterwards;
 *  - nothing is hidden: every complete line that status counted is either
 *    replayed or reported corrupt (a warning), the counts add up;
 *  - every replayed record serialises to JSON that parses back.
 */
#include <privtrack.h>

#include "fuzz_check.h"

#include "common/common.h"
#include "pipeline/spool.h"
#include "pipeline/spool_file.h"
#include "record/record.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEGMENT "spool-0000000000000001-1-0.log"

static char dir[64];
static char seg_path[160];
static char off_path[170];
static size_t corrupt_warnings;

static void
count_warnings(pt_log_level level, const char *message, void *userdata)
{
    (void)userdata;
    if (level >= PT_LOG_WARN && strstr(message, "corrupt record"))
        corrupt_warnings++;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
remove_dir(void)
{
    char tmp[200];
    unlink(seg_path);
    unlink(off_path);
    snprintf(tmp, sizeof(tmp), "%s.tmp", off_path);
    unlink(tmp);
    rmdir(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* tmpfs when there is one: the target fsyncs progress files. */
    snprintf(dir, sizeof(dir), "%s/pt-fuzz-spool-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (!mkdtemp(dir))
        abort();
    snprintf(seg_path, sizeof(seg_path), "%s/%s", dir, SEGMENT);
    snprintf(off_path, sizeof(off_path), "%s.off", seg_path);
    atexit(remove_dir);
    pt_set_log(count_warnings, NULL, PT_LOG_WARN);
    return 0;
}

static void
write_file(const char *path, const uint8_t *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FUZZ_CHECK(fd >= 0);
    FUZZ_CHECK(pt__write_all(fd, data, len) == 0);
    close(fd);
}

/* The reference for pt__spool_offset_parse(). */
static int
reference_offset(const uint8_t *text, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (len > 0 && text[len - 1] == '\n')
        len--;
    if (len == 0 || len > 20)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return -1;
        unsigned d = (unsigned)(text[i] - '0');
        if (v > UINT64_MAX / 10 || v * 10 > UINT64_MAX - d)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* Bit 3: lines "<8 hex> <rest>" get the CRC of <rest>. */
static void
fix_crcs(uint8_t *seg, size_t len)
{
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && seg[i] != '\n')
            continue;
        if (i - start >= 10 && seg[start + 8] == ' ') {
            char hex[9];
            snprintf(hex, sizeof(hex), "%08x",
                     (unsigned)pt__crc32(0, seg + start + 9, i - start - 9));
            memcpy(seg + start, hex, 8);
        }
        start = i + 1;
    }
}

typedef struct replayed {
    size_t count;
} replayed;

static int
check_put(void *ctx, const pt_record *const *records, size_t count,
          size_t *written)
{
    replayed *r = ctx;
    pt_buf json = PT_BUF_INIT;
    for (size_t i = 0; i < count; i++) {
        pt_record *back = NULL;
        pt_buf_clear(&json);
        pt__record_json(&json, records[i]);
        FUZZ_CHECK(!json.oom);
        FUZZ_CHECK(pt__record_parse_json(&back, json.ptr, json.len) == PT_OK);
        pt__record_free(back);
    }
    pt_buf_free(&json);
    r->count += count;
    *written = count;
    return PT_OK;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t steps[4] = {1, 3, 8, 64};
    const uint8_t *nl;
    uint8_t *seg;
    size_t off_len, seg_len, newlines = 0, guard = 0, n = 0, found = 0;
    uint64_t value = 0, expected = 0;
    pt_spool_status st;
    pt__spool *spool;
    replayed got = {0};
    struct stat sb;
    int flags;

    if (size == 0)
        return 0;
    flags = data[0];
    data++;
    size--;
    nl = memchr(data, '\n', size);
    off_len = nl ? (size_t)(nl - data) + 1 : size;
    seg_len = size - off_len;

    /* The progress file's parser against its reference. */
    int want = reference_offset(data, off_len, &expected);
    int have = pt__spool_offset_parse((const char *)data, off_len, &value);
    FUZZ_CHECK(want == have);
    FUZZ_CHECK(have != 0 || value == expected);

    seg = malloc(seg_len ? seg_len : 1);
    FUZZ_CHECK(seg != NULL);
    memcpy(seg, data + off_len, seg_len);
    if (flags & 8)
        fix_crcs(seg, seg_len);
    for (size_t i = 0; i < seg_len; i++)
        newlines += seg[i] == '\n';
    unlink(off_path);
    write_file(seg_path, seg, seg_len);
    if (flags & 1)
        write_file(off_path, data, off_len);

    corrupt_warnings = 0;
    FUZZ_CHECK(pt__spool_status(dir, &st) == PT_OK);
    FUZZ_CHECK(st.pending_records <= newlines);
    FUZZ_CHECK(st.pending_bytes <= seg_len);

    corrupt_warnings = 0;
    FUZZ_CHECK(pt__spool_open(&spool, dir) == PT_OK);
    FUZZ_CHECK(pt__spool_scan(spool, &found) == PT_OK && found == 1);
    while (pt__spool_pending(spool)) {
        FUZZ_CHECK(guard++ <= newlines + 2);
        FUZZ_CHECK(pt__spool_replay_step(spool, steps[(flags >> 1) & 3],
                                         check_put, &got, &n) == PT_OK);
    }
    pt__spool_close(spool);
    FUZZ_CHECK(stat(seg_path, &sb) != 0);
    FUZZ_CHECK(stat(off_path, &sb) != 0);
    FUZZ_CHECK(got.count + corrupt_warnings == st.pending_records);
    free(seg);
    return 0;
}
