/*
 * preload.c — the LD_PRELOAD way in (librustymem_sqlite.so only).
 *
 * A constructor runs when the dynamic loader maps the library, before main()
 * of the program and before any library loaded later with dlopen (python3's
 * _sqlite3 extension) can initialise SQLite. The shared library has
 * libsqlite3 as a DT_NEEDED dependency (linked with --no-as-needed), so
 * sqlite3_config resolves here and the copy python3 dlopens later is the one
 * configured here.
 *
 * Built twice (CMakeLists): librustymem_sqlite.so without the embedded agent
 * (RM_SQLITE_NO_AGENT: no gRPC in the process; RUSTYMEM_LISTEN gets one
 * stderr line naming the other library) and librustymem_sqlite_agent.so with it.
 *
 * RUSTYMEM_SQLITE_STATS=PATH additionally appends one JSON line with the
 * adapter's statistics to PATH when the process exits (used by the tests and
 * the benchmark to prove the adapter ran and to read its hit ratio).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rustymem/sqlite.h"
#include "rustymem/sqlite_host.h"

static void
write_stats(void)
{
    const char *path = getenv("RUSTYMEM_SQLITE_STATS");
    rm_sqlite_stats_t s;
    if (!path || !*path || rm_sqlite_stats(&s) != RM_OK)
        return;
    FILE *f = fopen(path, "a");
    if (!f) {
        fprintf(stderr, "rustymem-sqlite: RUSTYMEM_SQLITE_STATS='%s': cannot open for append\n", path);
        return;
    }
    fprintf(f,
            "{\"pcache\":%d,\"malloc\":%d,\"caches\":%llu,\"hits\":%llu,\"misses\":%llu,"
            "\"hit_ratio\":%.6f,\"evictions\":%llu,\"stolen\":%llu,\"discards\":%llu,"
            "\"create_refused\":%llu,\"create_failed\":%llu,\"pages\":%llu,\"budget_bytes\":%llu,"
            "\"memdb_caches\":%llu,\"memdb_hits\":%llu,\"memdb_misses\":%llu,"
            "\"slab_allocs\":%llu,\"jemalloc_allocs\":%llu,\"large_allocs\":%llu,"
            "\"slab_bytes\":%llu,\"jemalloc_bytes\":%llu,\"large_bytes\":%llu,\"alloc_failures\":%llu}\n",
            s.pcache, s.malloc, (unsigned long long)s.file_pool.caches,
            (unsigned long long)s.file_pool.hits, (unsigned long long)s.file_pool.misses,
            s.file_pool.hit_ratio, (unsigned long long)s.file_pool.evictions,
            (unsigned long long)s.file_pool.stolen, (unsigned long long)s.file_pool.discards,
            (unsigned long long)s.file_pool.create_refused, (unsigned long long)s.file_pool.create_failed,
            (unsigned long long)s.file_pool.pages, (unsigned long long)s.file_pool.budget_bytes,
            (unsigned long long)s.memdb_pool.caches, (unsigned long long)s.memdb_pool.hits,
            (unsigned long long)s.memdb_pool.misses, (unsigned long long)s.slab_allocs,
            (unsigned long long)s.jemalloc_allocs, (unsigned long long)s.large_allocs,
            (unsigned long long)s.slab_bytes, (unsigned long long)s.jemalloc_bytes,
            (unsigned long long)s.large_bytes, (unsigned long long)s.alloc_failures);
    fclose(f);
}

__attribute__((constructor)) static void
rm_sqlite_preload(void)
{
    char err[256];
    rm_sqlite_opts_t o;
    if (rm_sqlite_opts_from_env(&o, err, sizeof err) != RM_OK) {
        fprintf(stderr, "rustymem-sqlite: %s; nothing installed\n", err);
        return;
    }
    if (rm_sqlite_install(&o, err, sizeof err) != RM_OK) {
        fprintf(stderr, "rustymem-sqlite: %s\n", err);
        return;
    }
    if (getenv("RUSTYMEM_SQLITE_STATS"))
        atexit(write_stats);
    /* issue 22: the SQL surface (unless RUSTYMEM_SQLITE_SQL=0) and, with
     * RUSTYMEM_LISTEN, the embedded agent (host.c) */
    if (!rm_sqlite_installed())   /* both parts off: nothing to show or serve */
        return;
    const char *sql = getenv("RUSTYMEM_SQLITE_SQL");
    if (!(sql && strcmp(sql, "0") == 0) && rm_sqlite_sql_install(err, sizeof err) != RM_OK)
        fprintf(stderr, "rustymem-sqlite: SQL surface: %s\n", err);
    if (getenv("RUSTYMEM_LISTEN")) {
#ifdef RM_SQLITE_NO_AGENT
        /* the gRPC stack is in librustymem_sqlite_agent.so only (ADR 0023):
         * say so once; SQLite keeps the adapter */
        fprintf(stderr, "rustymem-sqlite: embedded agent not started: RUSTYMEM_LISTEN needs "
                        "librustymem_sqlite_agent.so in LD_PRELOAD (this library has no gRPC server)\n");
#else
        rm_sqlite_serve_opts_t so;
        if (rm_sqlite_serve_opts_from_env(&so, err, sizeof err) != RM_OK ||
            rm_sqlite_serve(&so, err, sizeof err) != RM_OK) {
            fprintf(stderr, "rustymem-sqlite: embedded agent not started: %s\n", err);
            return;
        }
        /* child processes inherit LD_PRELOAD: they must not start an agent of their own */
        unsetenv("RUSTYMEM_LISTEN");
        unsetenv("RUSTYMEM_PORT_FILE");
#endif
    }
}
