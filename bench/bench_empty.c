/*
 * The reference for the memory benchmark: an empty C program (libc only,
 * not linked with privtrack) that prints its own peak RSS.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
main(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double mb = 0;

    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmHWM:", 6) == 0)
            mb = strtod(line + 6, NULL) / 1024.0;
    }
    if (f)
        fclose(f);
    printf("{\"side\":\"privtrack\",\"key\":\"memory.empty_c.hwm_mb\","
           "\"value\":%.6g,\"unit\":\"MiB\"}\n",
           mb);
    return 0;
}
