/* replay: a main() for a fuzz target built without libFuzzer. Runs LLVMFuzzerTestOneInput once
 * on each file named on the command line and on each file of each directory named (in name
 * order), so ctest replays the committed corpora with the normal compiler and sanitizers.
 * Uses libc only. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads the whole file into a buffer of exactly its size (so ASan sees any read past it). */
static int run_file(const char *path)
{
    FILE *f = NULL;
    uint8_t *buf = NULL;
    int rc = -1;
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) goto out;
    f = fopen(path, "rb");
    buf = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
    if (!f || !buf) goto out;
    if (fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) goto out;
    LLVMFuzzerTestOneInput(buf, (size_t)st.st_size);
    rc = 0;
out:
    if (rc) fprintf(stderr, "replay: cannot read %s\n", path);
    if (f) fclose(f);
    free(buf);
    return rc;
}

static int regular(const struct dirent *e) { return e->d_name[0] != '.'; }

/* Runs every file of dir; returns how many, or -1. */
static int run_dir(const char *dir)
{
    struct dirent **names = NULL;
    int n = scandir(dir, &names, regular, alphasort), done = 0;
    if (n < 0) {
        fprintf(stderr, "replay: cannot list %s\n", dir);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        if (done >= 0 && run_file(path) == 0) done++;
        else done = -1;
        free(names[i]);
    }
    free(names);
    return done;
}

int main(int argc, char **argv)
{
    int total = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        int n = stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode) ? run_dir(argv[i]) : run_file(argv[i]) == 0;
        if (n < 0) return 1;
        total += n;
    }
    printf("replayed %d inputs\n", total);
    /* no input at all is a mistake (a corpus moved or emptied), not a pass */
    return total > 0 ? 0 : 1;
}
