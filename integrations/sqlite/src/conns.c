/*
 * conns.c — the registry of SQLite connections in this process, for the
 * embedded agent's query kill and admission (sqlite_internal.h,
 * docs/adr/0029-sqlite-embedded-agent.md).
 *
 * Every connection opened after install passes through one auto-extension:
 *  - admission closed: it fails, so sqlite3_open* returns an error
 *    ("rustymem: admission closed …"); connections already open keep working;
 *  - else the connection is put in a list with its own record, a trace
 *    callback (SQLITE_TRACE_STMT / PROFILE) stamps the start of its oldest
 *    running statement, and a guard function whose xDestroy SQLite calls when
 *    the connection closes takes the record out again. The guard does not
 *    depend on the trace callback, so an application that installs its own
 *    trace (Python's set_trace_callback) only loses the statement clock of
 *    that connection, never the close.
 * The list's mutex is held while interrupting, and the close path takes it
 * too before SQLite frees the connection, so sqlite3_interrupt never sees a
 * freed handle. sqlite3_interrupt is safe from any thread (SQLite's rule).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rm_clock.h"
#include "sqlite_internal.h"

typedef struct conn {
    struct conn *next, *prev;
    sqlite3 *db;
    _Atomic uint64_t start_ns;     /* CLOCK_MONOTONIC start of the oldest running statement; 0 = none */
    _Atomic(sqlite3_stmt *) stmt;  /* that statement */
    _Atomic uint64_t last_ns;      /* CLOCK_MONOTONIC of the last statement start or end */
    uint64_t id;                   /* 1, 2, … in opening order */
} conn_t;

static struct {
    pthread_mutex_t mu;
    conn_t *head;
    uint64_t open, next_id;
    _Atomic bool sql;
    _Atomic bool closed;           /* admission */
    _Atomic uint64_t opened_total, refused_total, interrupted_total;
} R = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* The statement clock. CLOCK_MONOTONIC_COARSE (the last tick, 1-4 ms old,
 * never ahead of rm_mono_ns, so the readers' differences stay >= 0) is exact
 * enough for running and idle times in seconds; relaxed stores are plain ones
 * (ADR 0023). */
static inline uint64_t
stamp_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* SQLite calls this on the thread running the connection's statement, one
 * call at a time per connection (its mutex in serialized mode, the
 * application's promise in multi-thread mode), so this is the only writer of
 * `stmt` and a plain load and store claim it. The readers (other threads)
 * only ever compare `start_ns` with zero and zero it with a CAS
 * (rm_sqlite__kill_longest); they never see or dereference `stmt`.
 *
 * The clock is read when the first statement starts while none holds it
 * (start_ns, last_ns) and when the connection stops running: the holder's end,
 * or the end of a statement that started under a holder already gone. A
 * statement that starts or ends under a running holder (a trigger's
 * "-- TRIGGER" start, a second statement stepped meanwhile) reads nothing:
 * last_ns is read only while nothing runs, and the holder's end rewrites it. */
static int
on_trace(unsigned type, void *ctx, void *p, void *x)
{
    conn_t *c = ctx;
    (void)x;
    sqlite3_stmt *held = atomic_load_explicit(&c->stmt, memory_order_relaxed);
    if (type == SQLITE_TRACE_STMT) {
        if (held == NULL) {
            uint64_t now = stamp_ns();
            atomic_store_explicit(&c->stmt, (sqlite3_stmt *)p, memory_order_relaxed);
            atomic_store_explicit(&c->last_ns, now, memory_order_relaxed);
            atomic_store_explicit(&c->start_ns, now, memory_order_release);
        }
    } else if (type == SQLITE_TRACE_PROFILE) {
        if (held == (sqlite3_stmt *)p) {
            atomic_store_explicit(&c->last_ns, stamp_ns(), memory_order_relaxed);
            atomic_store_explicit(&c->stmt, NULL, memory_order_relaxed);
            /* release: a reader that sees 0 sees this end's last_ns */
            atomic_store_explicit(&c->start_ns, 0, memory_order_release);
        } else if (held == NULL) {
            atomic_store_explicit(&c->last_ns, stamp_ns(), memory_order_release);
        }
    }
    return 0;
}

/* Guard function: never called from SQL for anything but a no-op; its
 * destructor is the close hook. */
static void
guard_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    (void)argv;
    sqlite3_result_null(ctx);
}

static void
guard_destroy(void *p)
{
    conn_t *c = p;
    pthread_mutex_lock(&R.mu);
    if (c->prev)
        c->prev->next = c->next;
    else
        R.head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    R.open--;
    pthread_mutex_unlock(&R.mu);
    free(c);
}

static int
on_open(sqlite3 *db, char **errmsg, const struct sqlite3_api_routines *api)
{
    (void)api;
    if (atomic_load(&R.closed)) {
        atomic_fetch_add(&R.refused_total, 1);
        *errmsg = sqlite3_mprintf("rustymem: admission closed (EmergencyService.SetAdmission or the "
                                  "OOM-prevention response): new connections are refused");
        return SQLITE_ERROR;
    }
    conn_t *c = calloc(1, sizeof *c);
    if (!c)
        return SQLITE_NOMEM;
    c->db = db;
    atomic_store(&c->last_ns, rm_mono_ns());
    pthread_mutex_lock(&R.mu);
    c->id = ++R.next_id;
    c->next = R.head;
    if (R.head)
        R.head->prev = c;
    R.head = c;
    R.open++;
    pthread_mutex_unlock(&R.mu);
    /* from here on guard_destroy owns c (also when create_function fails: SQLite calls it) */
    int rc = sqlite3_create_function_v2(db, "rustymem_connection_guard", 0, SQLITE_UTF8 | SQLITE_DIRECTONLY, c,
                                        guard_fn, NULL, NULL, guard_destroy);
    if (rc != SQLITE_OK)
        return rc;
    atomic_fetch_add(&R.opened_total, 1);
    sqlite3_trace_v2(db, SQLITE_TRACE_STMT | SQLITE_TRACE_PROFILE, on_trace, c);
    if (R.sql)
        return rm_sqlite__sql_register(db, errmsg);
    return SQLITE_OK;
}

static struct {
    _Atomic bool wanted;     /* conns_install was called */
    _Atomic bool init_seen;  /* the page cache's xInit ran */
    _Atomic bool due;        /* register at the next xCreate */
} I;

static int
register_hook(void)
{
    return sqlite3_auto_extension((void (*)(void))on_open);   /* idempotent for the same pointer */
}

void
rm_sqlite__on_init(void)
{
    atomic_store(&I.init_seen, true);
    atomic_store(&I.due, true);
}

void
rm_sqlite__on_create(void)
{
    if (atomic_load_explicit(&I.due, memory_order_relaxed) && atomic_load(&I.wanted) &&
        atomic_exchange(&I.due, false))
        (void)register_hook();
}

rm_status_t
rm_sqlite__conns_install(bool sql, char *err, size_t errlen)
{
    if (sql)
        atomic_store(&R.sql, true);
    atomic_store(&I.wanted, true);
    if (rm_sqlite_file_pool() != NULL) {
        /* the page cache's hooks register it; after SQLite's initialisation
         * (an application that links us and serves later) register it now */
        if (!atomic_load(&I.init_seen))
            return RM_OK;
        atomic_store(&I.due, false);
    }
    int rc = register_hook();
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "sqlite3_auto_extension: %s", sqlite3_errstr(rc));
        return RM_ENOMEM;
    }
    return RM_OK;
}

/* now - t, or 0 when a stamp is newer than `now`: the readers read the clock
 * before the stamps, and a statement can start or end in between. */
static inline uint64_t
age_ns(uint64_t now, uint64_t t)
{
    return now > t ? now - t : 0;
}

uint64_t
rm_sqlite__kill_queries(uint64_t older_than_ns)
{
    uint64_t now = rm_mono_ns(), n = 0;
    pthread_mutex_lock(&R.mu);
    for (conn_t *c = R.head; c; c = c->next) {
        uint64_t s = atomic_load(&c->start_ns);
        if (s && age_ns(now, s) >= older_than_ns) {
            sqlite3_interrupt(c->db);
            n++;
        }
    }
    pthread_mutex_unlock(&R.mu);
    atomic_fetch_add(&R.interrupted_total, n);
    return n;
}

uint64_t
rm_sqlite__kill_longest(unsigned n)
{
    uint64_t killed = 0;
    for (unsigned i = 0; i < n; i++) {
        pthread_mutex_lock(&R.mu);
        conn_t *best = NULL;
        uint64_t best_s = UINT64_MAX;
        for (conn_t *c = R.head; c; c = c->next) {
            uint64_t s = atomic_load(&c->start_ns);
            if (s && s < best_s) {
                best_s = s;
                best = c;
            }
        }
        if (best) {
            sqlite3_interrupt(best->db);
            /* its statement is over for our purposes (it ends with SQLITE_INTERRUPT);
             * a CAS, so that a statement which started since is not hidden */
            atomic_compare_exchange_strong(&best->start_ns, &best_s, 0);
            killed++;
        }
        pthread_mutex_unlock(&R.mu);
        if (!best)
            break;
    }
    atomic_fetch_add(&R.interrupted_total, killed);
    return killed;
}

void
rm_sqlite__set_admission(bool open)
{
    atomic_store(&R.closed, !open);
}

bool
rm_sqlite__admission_open(void)
{
    return !atomic_load(&R.closed);
}

void
rm_sqlite__conn_stats(rm_sqlite_conn_stats_t *out)
{
    memset(out, 0, sizeof *out);
    uint64_t now = rm_mono_ns(), oldest = 0;
    pthread_mutex_lock(&R.mu);
    out->open = R.open;
    for (conn_t *c = R.head; c; c = c->next) {
        uint64_t s = atomic_load(&c->start_ns);
        if (s) {
            out->running++;
            uint64_t a = age_ns(now, s);
            if (a > oldest)
                oldest = a;
        }
    }
    pthread_mutex_unlock(&R.mu);
    out->oldest_running_s = (double)oldest / 1e9;
    out->opened_total = atomic_load(&R.opened_total);
    out->refused_total = atomic_load(&R.refused_total);
    out->interrupted_total = atomic_load(&R.interrupted_total);
}

/* Connections inside a transaction (sqlite3_get_autocommit() == 0: a plain
 * read of the flag, safe from any thread), oldest first in opening order. */
size_t
rm_sqlite__txns(rm_sqlite_txn_t *out, size_t cap, double orphan_idle_s)
{
    uint64_t now = rm_mono_ns();
    size_t n = 0;
    pthread_mutex_lock(&R.mu);
    for (conn_t *c = R.head; c; c = c->next) {
        if (sqlite3_get_autocommit(c->db))
            continue;
        if (n < cap) {
            rm_sqlite_txn_t *t = &out[n];
            memset(t, 0, sizeof *t);
            t->conn_id = c->id;
            t->running = atomic_load(&c->start_ns) != 0;
            t->idle_seconds = t->running ? 0.0 : (double)age_ns(now, atomic_load(&c->last_ns)) / 1e9;
            t->orphaned = !t->running && t->idle_seconds >= orphan_idle_s;
            const char *f = sqlite3_db_filename(c->db, "main");
            snprintf(t->db_file, sizeof t->db_file, "%s", f && *f ? f : ":memory:");
        }
        n++;
    }
    pthread_mutex_unlock(&R.mu);
    return n;
}

/* Roll back the orphaned transactions of connections other than `self` whose
 * mutex is free right now (serialized mode; a connection without a mutex, or
 * busy, is left alone: never wait for the application). */
uint64_t
rm_sqlite__kill_orphans(sqlite3 *self)
{
    uint64_t now = rm_mono_ns(), killed = 0;
    pthread_mutex_lock(&R.mu);
    for (conn_t *c = R.head; c; c = c->next) {
        if (c->db == self || sqlite3_get_autocommit(c->db) || atomic_load(&c->start_ns))
            continue;
        if ((double)age_ns(now, atomic_load(&c->last_ns)) / 1e9 < RM_SQLITE_ORPHAN_IDLE_S)
            continue;
        sqlite3_mutex *m = sqlite3_db_mutex(c->db);
        if (!m || sqlite3_mutex_try(m) != SQLITE_OK)
            continue;
        if (!sqlite3_get_autocommit(c->db) && sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL) == SQLITE_OK)
            killed++;
        sqlite3_mutex_leave(m);
    }
    pthread_mutex_unlock(&R.mu);
    return killed;
}
