/*
 * jemalloc_stats.c — read jemalloc's statistics through mallctl.
 *
 * mallctl is looked up with dlsym so rustymemd works whether or not
 * the program links jemalloc; whether malloc() itself is jemalloc's is checked
 * with dladdr (a sanitizer build replaces malloc, and then jemalloc's figures
 * describe an unused heap: we say so rather than report them as ours).
 */
#include "node.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

typedef int (*mallctl_fn)(const char *, void *, size_t *, void *, size_t);

static uint64_t
read_size(mallctl_fn mallctl, const char *name)
{
    size_t v = 0, len = sizeof v;
    if (mallctl(name, &v, &len, NULL, 0) != 0)
        return 0;
    return (uint64_t)v;
}

void
rm_jemalloc_read(rm_jemalloc_stats_t *out)
{
    memset(out, 0, sizeof *out);
    mallctl_fn mallctl = (mallctl_fn)dlsym(RTLD_DEFAULT, "mallctl");
    if (!mallctl)
        return;
    out->available = 1;

    Dl_info info;
    void *(*malloc_ptr)(size_t) = malloc;
    if (dladdr((void *)malloc_ptr, &info) && info.dli_fname && strstr(info.dli_fname, "jemalloc"))
        out->active = 1;

    /* Statistics are cached until the epoch is advanced. */
    uint64_t epoch = 1;
    size_t len = sizeof epoch;
    (void)mallctl("epoch", &epoch, &len, &epoch, len);
    out->allocated = read_size(mallctl, "stats.allocated");
    out->active_bytes = read_size(mallctl, "stats.active");
    out->resident = read_size(mallctl, "stats.resident");
    out->metadata = read_size(mallctl, "stats.metadata");
    out->retained = read_size(mallctl, "stats.retained");
    out->mapped = read_size(mallctl, "stats.mapped");
    const char *ver = NULL;
    len = sizeof ver;
    if (mallctl("version", &ver, &len, NULL, 0) == 0 && ver)
        strncpy(out->version, ver, sizeof out->version - 1);
}

uint64_t
rm_jemalloc_purge(void)
{
    mallctl_fn mallctl = (mallctl_fn)dlsym(RTLD_DEFAULT, "mallctl");
    if (!mallctl)
        return 0;
    uint64_t epoch = 1;
    size_t len = sizeof epoch;
    (void)mallctl("epoch", &epoch, &len, &epoch, len);
    uint64_t before = read_size(mallctl, "stats.resident");
    (void)mallctl("arena.4096.purge", NULL, NULL, NULL, 0); /* 4096 = MALLCTL_ARENAS_ALL */
    (void)mallctl("epoch", &epoch, &len, &epoch, len);
    uint64_t after = read_size(mallctl, "stats.resident");
    return before > after ? before - after : 0;
}
