/*
 * Replays fuzz inputs through a target's LLVMFuzzerTestOneInput() without
 * libFuzzer, so any compiler (gcc too) and any ctest run checks that every
 * corpus file, including past crashers, still passes:
 *
 *   fuzz_replay_<target> DIR|FILE...
 *
 * Each input is handed over in a buffer of exactly its size (no trailing
 * NUL), as libFuzzer does, so that an ASan build catches a parser reading
 * past the end.  Exits non-zero when no input was found: an empty or
 * missing corpus must not pass silently.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int
replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || st.st_size < 0) {
        perror(path);
        fclose(f);
        return -1;
    }
    size_t size = (size_t)st.st_size;
    /* malloc(0) may return NULL; keep one byte so a zero-length input is
     * still a valid pointer, as libFuzzer passes. */
    uint8_t *data = malloc(size ? size : 1);
    if (!data || fread(data, 1, size, f) != size) {
        fprintf(stderr, "%s: cannot read\n", path);
        free(data);
        fclose(f);
        return -1;
    }
    fclose(f);
    fprintf(stderr, "replay %s (%zu bytes)\n", path, size);
    LLVMFuzzerTestOneInput(data, size);
    free(data);
    return 0;
}

static int
compare_names(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* Returns the number of inputs replayed, -1 on an unreadable input. */
static long
replay_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        perror(path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return replay_file(path) == 0 ? 1 : -1;

    struct dirent **entries = NULL;
    int n = scandir(path, &entries, NULL, compare_names);
    if (n < 0) {
        perror(path);
        return -1;
    }
    long done = 0;
    for (int i = 0; i < n; i++) {
        char child[4096];
        const char *name = entries[i]->d_name;
        int skip = name[0] == '.'; /* ".", "..", dotfiles such as .gitkeep */
        if (!skip)
            snprintf(child, sizeof(child), "%s/%s", path, name);
        if (!skip && stat(child, &st) == 0 && S_ISREG(st.st_mode)) {
            if (replay_file(child) != 0)
                done = -1;
            else if (done >= 0)
                done++;
        }
        free(entries[i]);
    }
    free(entries);
    return done;
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR|FILE...\n", argv[0]);
        return 2;
    }
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    long total = 0;
    for (int i = 1; i < argc; i++) {
        long n = replay_path(argv[i]);
        if (n < 0)
            return 1;
        total += n;
    }
    printf("replayed %ld inputs\n", total);
    return total > 0 ? 0 : 1;
}
