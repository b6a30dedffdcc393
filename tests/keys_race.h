/*
 * Sixteen processes racing for the same period's keys, for the tests of
 * each key store (tests/unit/test_keys.c, tests/dynamodb/test_dynamodb_keys
 * .c).  Header-only; include it after cmocka.h.
 */
#ifndef PT_TEST_KEYS_RACE_H
#define PT_TEST_KEYS_RACE_H

#include "keys/keys.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PT_TEST_RACERS 16

/** Fork PT_TEST_RACERS processes that each open a key manager for `p`,
 *  wait for a common start (the end of a pipe), refresh at `now_us` and
 *  report the key of `now_us`'s period; check that all succeed and agree,
 *  and copy that key's hex into `agreed` (65 bytes). */
static inline void
pt_test_race_keys(const pt_policy *p, int64_t now_us, char *agreed)
{
    int go[2], results[2], count = 0;
    pid_t pids[PT_TEST_RACERS];
    char line[80];
    FILE *in;

    agreed[0] = '\0';
    assert_int_equal(pipe(go), 0);
    assert_int_equal(pipe(results), 0);
    for (int i = 0; i < PT_TEST_RACERS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            pt__keys *k = NULL;
            pt__ip_key key;
            int missing;
            char hex[65], out[80];
            close(go[1]);
            close(results[0]);
            if (pt__keys_open(&k, p, NULL, PT__KEYS_CREATE) != PT_OK)
                _exit(2);
            if (read(go[0], out, 1) != 0) /* EOF: everyone starts */
                _exit(3);
            if (pt__keys_refresh(k, now_us) != PT_OK ||
                pt__keys_for_time(k, now_us, now_us, &key, &missing) != PT_OK)
                _exit(4);
            sodium_bin2hex(hex, sizeof(hex), key.bytes, 32);
            snprintf(out, sizeof(out), "%s\n", hex);
            if (write(results[1], out, strlen(out)) != 65)
                _exit(5);
            pt__keys_close(k);
            _exit(0);
        }
    }
    close(go[0]);
    close(results[1]);
    close(go[1]); /* go */
    in = fdopen(results[0], "r");
    while (fgets(line, sizeof(line), in)) {
        line[strcspn(line, "\n")] = '\0';
        assert_int_equal(strlen(line), 64);
        if (!agreed[0])
            memcpy(agreed, line, 65);
        assert_string_equal(line, agreed);
        count++;
    }
    fclose(in);
    for (int i = 0; i < PT_TEST_RACERS; i++) {
        int status = 0;
        waitpid(pids[i], &status, 0);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    assert_int_equal(count, PT_TEST_RACERS);
}

#endif
