/*
 * sqlite_internal.h — what the adapter's files share inside librustymem_sqlite
 * (hidden symbols; not installed). The embedded agent (host.c), the
 * connection registry (conns.c) and the SQL surface (vtab.c) of issue 22,
 * docs/adr/0029-sqlite-embedded-agent.md.
 */
#ifndef RUSTYMEM_SQLITE_INTERNAL_H
#define RUSTYMEM_SQLITE_INTERNAL_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "rustymem/bufpool.h"
#include "rustymem/large.h"
#include "rustymem/pressure.h"
#include "rustymem/slab.h"
#include "rustymem/sqlite.h"

/* sqlite_adapter.c: the allocator's memcore objects (NULL before an install or
 * when the allocator part is off). */
rm_slab_t *rm_sqlite__slab(void);
rm_large_t *rm_sqlite__large(void);
/* sqlite_adapter.c: printf into the caller's err[errlen] (nothing when err is
 * NULL or errlen 0), the one error-text writer of the adapter and host.c. */
void rm_sqlite__say(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- conns.c: every connection opened after rm_sqlite__conns_install ------
 * One auto-extension registers each new connection (refusing it while
 * admission is closed), follows its statements with sqlite3_trace_v2
 * (SQLITE_TRACE_STMT starts the clock, SQLITE_TRACE_PROFILE stops it) and
 * forgets it on close (the xDestroy of a guard function, which SQLite calls
 * on close even when the application replaced the trace callback). It also
 * registers the SQL surface (vtab.c) on the connection when `sql` is set. */
rm_status_t rm_sqlite__conns_install(bool sql, char *err, size_t errlen);
/* The auto-extension cannot be registered from the preload's constructor
 * (sqlite3_auto_extension initialises SQLite, and the sqlite3 CLI configures
 * it after the constructor) nor from the page cache's xInit (it would
 * re-enter sqlite3_initialize under SQLite's main mutex: deadlock). xInit
 * marks it due (sqlite3_shutdown clears auto-extensions) and the first
 * xCreate — inside sqlite3_open, before SQLite loads the auto-extensions of
 * that very connection — registers it. */
void rm_sqlite__on_init(void);
void rm_sqlite__on_create(void);
/* sqlite3_interrupt every connection whose oldest running statement started
 * at least older_than_ns ago; returns how many. Thread-safe. */
uint64_t rm_sqlite__kill_queries(uint64_t older_than_ns);
/* Interrupt the `n` longest-running statements (graduated response). */
uint64_t rm_sqlite__kill_longest(unsigned n);
void rm_sqlite__set_admission(bool open);
bool rm_sqlite__admission_open(void);
typedef struct rm_sqlite_conn_stats {
    uint64_t open, opened_total, refused_total, running, interrupted_total;
    double oldest_running_s;
} rm_sqlite_conn_stats_t;
void rm_sqlite__conn_stats(rm_sqlite_conn_stats_t *out);

/* Open transactions: connections with autocommit off. Orphaned = no statement
 * running for at least RM_SQLITE_ORPHAN_IDLE_S seconds. */
#define RM_SQLITE_ORPHAN_IDLE_S 60.0
typedef struct rm_sqlite_txn {
    uint64_t conn_id;
    double idle_seconds;
    bool running, orphaned;
    char db_file[256];
} rm_sqlite_txn_t;
/* Fills out[0..cap); returns the total. */
size_t rm_sqlite__txns(rm_sqlite_txn_t *out, size_t cap, double orphan_idle_s);
uint64_t rm_sqlite__kill_orphans(sqlite3 *self);

/* ---- vtab.c: the seed's SQL surface on one connection --------------------- */
int rm_sqlite__sql_register(sqlite3 *db, char **errmsg);

/* ---- host.c: the embedded agent -------------------------------------------- */
/* The pressure monitor of the embedded agent (NULL when none runs). */
rm_pressure_t *rm_sqlite__pressure(void);
/* Buffer-pool words for the page cache (file pool), as GetBufferPoolStats shows them. */
rm_status_t rm_sqlite__bufpool_stats(rm_bufpool_stats_t *out);
/* The actions shared by EmergencyService and the SQL functions. */
uint64_t rm_sqlite__force_gc(void);            /* bytes freed */
rm_status_t rm_sqlite__evict(double fraction, uint64_t *pages, uint64_t *bytes);

#endif /* RUSTYMEM_SQLITE_INTERNAL_H */
