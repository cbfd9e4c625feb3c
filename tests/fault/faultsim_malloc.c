/*
 * faultsim_malloc.c — see faultsim_malloc.h. Included by the one test source
 * that uses it.
 *
 * Design note: resolving the next allocator with dlsym can itself allocate
 * (dlerror buffers); calls made while resolving are served from a small
 * static bump buffer whose blocks free() recognises and ignores.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "faultsim_malloc.h"

#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <stdlib.h>
#include <unistd.h>
#include <stddef.h>
#include <string.h>

/* The shim runs before the sanitizer runtime is initialised (its own
 * dlsym calls allocate): no instrumentation, which would touch shadow memory
 * that is not mapped yet. */
#define FS_NOSAN __attribute__((no_sanitize("address", "undefined")))

static void *(*fs_real_malloc)(size_t);
static void *(*fs_real_calloc)(size_t, size_t);
static void *(*fs_real_realloc)(void *, size_t);
static void (*fs_real_free)(void *);
static int (*fs_real_posix_memalign)(void **, size_t, size_t);
static void *(*fs_real_aligned_alloc)(size_t, size_t);
static void *(*fs_real_memalign)(size_t, size_t);

static _Alignas(max_align_t) char fs_boot[64 * 1024];
static size_t fs_boot_used;
static int fs_resolving;

static __thread int fs_armed;        /* counting on this thread */
static __thread int fs_suspended;    /* armed but paused */
static __thread long fs_countdown;   /* calls until the failure; 0 = none */
static __thread int fs_repeat;
static __thread uint64_t fs_calls, fs_failures;
static __thread int fs_in_trace;
static int fs_trace = -1;            /* FAULTSIM_BACKTRACE=1: print the stack of each fault */

FS_NOSAN static void
fs_backtrace(void)
{
    if (fs_trace < 0) {
        const char *e = getenv("FAULTSIM_BACKTRACE");
        fs_trace = e && *e == '1';
    }
    if (!fs_trace || fs_in_trace)
        return;
    fs_in_trace = 1;   /* backtrace() may allocate on its first call (libgcc load) */
    void *frames[32];
    int n = backtrace(frames, 32);
    static const char hdr[] = "faultsim: injected allocation failure at:\n";
    (void)!write(2, hdr, sizeof hdr - 1);
    backtrace_symbols_fd(frames, n, 2);
    fs_in_trace = 0;
}

FS_NOSAN static void
fs_resolve(void)
{
    if (fs_real_malloc || fs_resolving)
        return;
    fs_resolving = 1;
    fs_real_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
    fs_real_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
    fs_real_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
    fs_real_posix_memalign = (int (*)(void **, size_t, size_t))dlsym(RTLD_NEXT, "posix_memalign");
    fs_real_aligned_alloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "aligned_alloc");
    fs_real_memalign = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "memalign");
    void *(*m)(size_t) = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
    __atomic_store_n(&fs_real_malloc, m, __ATOMIC_RELEASE);
    fs_resolving = 0;
}

FS_NOSAN static int
fs_in_boot(const void *p)
{
    return (const char *)p >= fs_boot && (const char *)p < fs_boot + sizeof fs_boot;
}

FS_NOSAN static void *
fs_boot_alloc(size_t n)
{
    size_t a = (n + 15) & ~(size_t)15;
    if (fs_boot_used + a > sizeof fs_boot)
        return NULL;
    void *p = fs_boot + fs_boot_used;
    fs_boot_used += a;
    return p;   /* static storage: already zero */
}

/* 1 when this call must fail. */
FS_NOSAN static int
fs_fail_now(void)
{
    if (!fs_armed || fs_suspended || fs_in_trace)
        return 0;
    fs_calls++;
    if (fs_countdown > 0 && --fs_countdown == 0) {
        if (fs_repeat)
            fs_countdown = 1;
        fs_failures++;
        fs_backtrace();
        return 1;
    }
    return 0;
}

FS_NOSAN void
rm_faultsim_malloc_arm(long nth, int repeat)
{
    fs_resolve();
    fs_calls = 0;
    fs_failures = 0;
    fs_countdown = nth > 0 ? nth : 0;
    fs_repeat = repeat;
    fs_suspended = 0;
    fs_armed = 1;
}

FS_NOSAN void
rm_faultsim_malloc_disarm(void)
{
    fs_armed = 0;
    fs_countdown = 0;
    fs_repeat = 0;
}

FS_NOSAN void
rm_faultsim_malloc_suspend(int on)
{
    fs_suspended = on;
}

FS_NOSAN uint64_t
rm_faultsim_malloc_calls(void)
{
    return fs_calls;
}

FS_NOSAN uint64_t
rm_faultsim_malloc_failures(void)
{
    return fs_failures;
}

FS_NOSAN void *
malloc(size_t n)
{
    fs_resolve();
    if (!fs_real_malloc)
        return fs_boot_alloc(n);
    if (fs_fail_now()) {
        errno = ENOMEM;
        return NULL;
    }
    return fs_real_malloc(n);
}

FS_NOSAN void *
calloc(size_t n, size_t sz)
{
    fs_resolve();
    if (!fs_real_calloc) {
        if (sz && n > SIZE_MAX / sz)
            return NULL;
        return fs_boot_alloc(n * sz);
    }
    if (fs_fail_now()) {
        errno = ENOMEM;
        return NULL;
    }
    return fs_real_calloc(n, sz);
}

FS_NOSAN void *
realloc(void *p, size_t n)
{
    fs_resolve();
    if (fs_in_boot(p)) {
        /* grow out of the boot buffer (sizes are unknown: copy what fits) */
        void *q = malloc(n);
        if (q) {
            size_t avail = (size_t)(fs_boot + sizeof fs_boot - (char *)p);
            memcpy(q, p, n < avail ? n : avail);
        }
        return q;
    }
    if (!fs_real_realloc)
        return fs_boot_alloc(n);
    if (fs_fail_now()) {
        errno = ENOMEM;
        return NULL;   /* the old block stays valid, as with a real failure */
    }
    return fs_real_realloc(p, n);
}

FS_NOSAN void
free(void *p)
{
    if (!p || fs_in_boot(p))
        return;
    fs_resolve();
    fs_real_free(p);
}

FS_NOSAN int
posix_memalign(void **out, size_t align, size_t n)
{
    fs_resolve();
    if (fs_fail_now())
        return ENOMEM;
    return fs_real_posix_memalign(out, align, n);
}

FS_NOSAN void *
aligned_alloc(size_t align, size_t n)
{
    fs_resolve();
    if (fs_fail_now()) {
        errno = ENOMEM;
        return NULL;
    }
    return fs_real_aligned_alloc(align, n);
}

FS_NOSAN void *
memalign(size_t align, size_t n)
{
    fs_resolve();
    if (fs_fail_now()) {
        errno = ENOMEM;
        return NULL;
    }
    return fs_real_memalign(align, n);
}

FS_NOSAN char *
strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

FS_NOSAN char *
strndup(const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}
