/*
 * A property check for fuzz targets: on failure, name the broken property
 * (file, line, condition) on stderr, then abort() so that libFuzzer and the
 * replay driver both report a crash.
 */
#ifndef PT_FUZZ_CHECK_H
#define PT_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__,          \
                    __LINE__, #cond);                                          \
            abort();                                                           \
        }                                                                      \
    } while (0)

#endif
