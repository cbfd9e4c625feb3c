/*
 * vtab.c — the seed's operator surface in SQL (rustymem/sqlite_host.h,
 * docs/sqlite.md "The seed's SQL functions", docs/adr/0029).
 *
 * Eponymous table-valued virtual tables, so the seed's queries run as written
 * (`SELECT * FROM memory_stats();` — SQLite accepts the empty argument list of
 * a table-valued function), and scalar functions for the seed's CALLs
 * (`CALL force_garbage_collection();` becomes `SELECT force_garbage_collection();`).
 * Every table is read once per scan (xFilter) into rows of cells; the figures
 * come from the same calls the gRPC handlers make (the accounting registry,
 * rm_slab_stats, rm_large_stats, the page cache's buffer-pool words), so a
 * query and an RPC of the same moment agree.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rustymem/stats.h"
#include "rustymem/sysinfo.h"
#include "sqlite_internal.h"

#define MAX_COLS 16

typedef struct cell {
    int type;         /* SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT, SQLITE_NULL */
    sqlite3_int64 i;
    double d;
    char *t;          /* sqlite3_malloc'ed */
} cell_t;

typedef struct rows {
    int ncols;
    size_t n, cap;
    cell_t *c;        /* n × ncols */
    int oom;
} rows_t;

typedef void (*fill_fn)(rows_t *r);

typedef struct table_def {
    const char *name;
    const char *schema;   /* CREATE TABLE x(...) */
    int ncols;
    fill_fn fill;
} table_def_t;

static cell_t *
row_add(rows_t *r)
{
    if (r->oom)
        return NULL;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        cell_t *c = sqlite3_realloc64(r->c, cap * (size_t)r->ncols * sizeof *c);
        if (!c) {
            r->oom = 1;
            return NULL;
        }
        r->c = c;
        r->cap = cap;
    }
    cell_t *row = &r->c[r->n++ * (size_t)r->ncols];
    memset(row, 0, (size_t)r->ncols * sizeof *row);
    return row;
}

static void
set_i(cell_t *c, uint64_t v)
{
    c->type = SQLITE_INTEGER;
    c->i = v > (uint64_t)INT64_MAX ? INT64_MAX : (sqlite3_int64)v;
}

static void
set_d(cell_t *c, double v)
{
    c->type = SQLITE_FLOAT;
    c->d = v;
}

static void
set_t(rows_t *r, cell_t *c, const char *s)
{
    c->type = SQLITE_TEXT;
    c->t = sqlite3_mprintf("%s", s ? s : "");
    if (!c->t)
        r->oom = 1;
}

static void
rows_free(rows_t *r)
{
    for (size_t i = 0; i < r->n * (size_t)r->ncols; i++)
        sqlite3_free(r->c[i].t);
    sqlite3_free(r->c);
    memset(r, 0, sizeof *r);
}

/* The budget GetMemoryStats divides by: the sampler's, else the usage measure's (handlers/memory.c). */
static uint64_t
budget_bytes(uint64_t memcore_held)
{
    rm_pressure_t *p = rm_sqlite__pressure();
    if (p) {
        rm_pressure_forecast_t fc;
        memset(&fc, 0, sizeof fc);
        rm_pressure_get_forecast(p, &fc);
        if (fc.t_ns && fc.budget_bytes && fc.sample.usage_source && fc.sample.budget_source)
            return fc.budget_bytes;
    }
    rm_sysinfo_t si;
    rm_sysinfo_read(NULL, &si);
    rm_sysinfo_usage_t u;
    rm_sysinfo_usage(&si, 0, memcore_held, &u);
    return u.budget_bytes;
}

/* ---- the tables ----------------------------------------------------------------- */

static void
fill_memory(rows_t *r)
{
    rm_component_usage_t comps[RM_COMPONENTS_MAX];
    size_t n = 0;
    rm_stats_components(comps, RM_COMPONENTS_MAX, &n);
    if (n > RM_COMPONENTS_MAX)
        n = RM_COMPONENTS_MAX;
    uint64_t used = 0, held = 0;
    rm_stats_totals(comps, n, &used, &held);
    uint64_t budget = budget_bytes(held);
    for (size_t i = 0; i < n; i++) {
        cell_t *c = row_add(r);
        if (!c)
            return;
        set_t(r, &c[0], comps[i].name);
        set_d(&c[1], (double)comps[i].used_bytes / (1024.0 * 1024.0));
        set_d(&c[2], budget ? 100.0 * (double)comps[i].used_bytes / (double)budget : 0.0);
        set_i(&c[3], comps[i].used_bytes);
        set_i(&c[4], comps[i].held_bytes);
        set_i(&c[5], comps[i].nested);
    }
}

static void
fill_slab(rows_t *r)
{
    rm_slab_t *s = rm_sqlite__slab();
    rm_slab_stats_t st[RM_SLAB_NUM_CLASSES];
    if (!s || rm_slab_stats(s, st) != RM_OK)
        return;
    for (unsigned i = 0; i < RM_SLAB_NUM_CLASSES; i++) {
        cell_t *c = row_add(r);
        if (!c)
            return;
        set_t(r, &c[0], st[i].name);
        set_i(&c[1], st[i].object_size);
        set_i(&c[2], st[i].active_objects);
        set_i(&c[3], st[i].slabs);
        set_i(&c[4], st[i].bytes_in_use);
        set_i(&c[5], st[i].bytes_held);
        set_i(&c[6], st[i].allocs);
        set_i(&c[7], st[i].frees);
        set_d(&c[8], st[i].magazine_hit_ratio);
    }
}

static void
fill_arena(rows_t *r)
{
    (void)r;   /* SQLite has no transaction arenas: its transactions allocate through the slab and large tables */
}

static void
fill_bufpool(rows_t *r)
{
    rm_bufpool_stats_t st;
    if (rm_sqlite__bufpool_stats(&st) != RM_OK)
        return;
    rm_pcache_pool_t *pool = rm_sqlite_file_pool();
    cell_t *c = row_add(r);
    if (!c)
        return;
    set_i(&c[0], st.total_frames);
    set_i(&c[1], st.used_frames);
    set_d(&c[2], st.hit_ratio);
    set_d(&c[3], st.utilization);
    set_i(&c[4], st.hits);
    set_i(&c[5], st.misses);
    set_i(&c[6], st.evictions);
    set_i(&c[7], st.pinned);
    set_i(&c[8], st.page_size);
    set_i(&c[9], pool ? rm_pcache_pool_budget(pool) : 0);
    set_i(&c[10], st.held_bytes);
}

static void
fill_large(rows_t *r)
{
    rm_large_t *l = rm_sqlite__large();
    if (!l)
        return;
    rm_large_stats_t ls;
    rm_large_stats(l, &ls);
    cell_t *c = row_add(r);
    if (!c)
        return;
    set_i(&c[0], ls.threshold_bytes);
    set_i(&c[1], ls.live_objects);
    set_i(&c[2], ls.used_bytes);
    set_i(&c[3], ls.held_bytes);
    set_i(&c[4], ls.free_extents);
    set_i(&c[5], ls.largest_free_bytes);
    set_d(&c[6], ls.fragmentation_ratio);
    set_i(&c[7], ls.allocs);
    set_i(&c[8], ls.frees);
}

static void
fill_frag(rows_t *r)
{
    rm_component_usage_t comps[RM_COMPONENTS_MAX];
    size_t n = 0;
    rm_stats_components(comps, RM_COMPONENTS_MAX, &n);
    if (n > RM_COMPONENTS_MAX)
        n = RM_COMPONENTS_MAX;
    for (size_t i = 0; i < n; i++) {
        cell_t *c = row_add(r);
        if (!c)
            return;
        double f = rm_stats_component_fragmentation(&comps[i]);
        set_t(r, &c[0], comps[i].name);
        set_d(&c[1], f);
        set_t(r, &c[2], rm_stats_fragmentation_status(f));
        set_i(&c[3], comps[i].used_bytes);
        set_i(&c[4], comps[i].held_bytes);
    }
}

static void
fill_orphans(rows_t *r)
{
    rm_sqlite_txn_t t[64];
    size_t n = rm_sqlite__txns(t, 64, RM_SQLITE_ORPHAN_IDLE_S);
    for (size_t i = 0; i < n && i < 64; i++) {
        if (!t[i].orphaned)
            continue;
        cell_t *c = row_add(r);
        if (!c)
            return;
        set_i(&c[0], t[i].conn_id);
        set_d(&c[1], t[i].idle_seconds);
        set_t(r, &c[2], t[i].db_file);
        set_t(r, &c[3], "open transaction with no statement running");
    }
}

static const table_def_t tables[] = {
    {"memory_stats",
     "CREATE TABLE x(component TEXT, memory_mb REAL, percentage REAL, used_bytes INTEGER, held_bytes INTEGER, "
     "nested INTEGER)", 6, fill_memory},
    {"slab_allocator_stats",
     "CREATE TABLE x(size_class TEXT, object_size INTEGER, active_objects INTEGER, slabs INTEGER, "
     "bytes_in_use INTEGER, bytes_held INTEGER, allocs INTEGER, frees INTEGER, magazine_hit_ratio REAL)", 9,
     fill_slab},
    {"transaction_arena_stats",
     "CREATE TABLE x(context TEXT, total_bytes INTEGER, used_bytes INTEGER, free_bytes INTEGER, blocks INTEGER)",
     5, fill_arena},
    {"buffer_pool_stats",
     "CREATE TABLE x(total_frames INTEGER, used_frames INTEGER, hit_ratio REAL, utilization REAL, hits INTEGER, "
     "misses INTEGER, evictions INTEGER, pinned_frames INTEGER, frame_bytes INTEGER, budget_bytes INTEGER, "
     "held_bytes INTEGER)", 11, fill_bufpool},
    {"large_object_stats",
     "CREATE TABLE x(threshold_bytes INTEGER, live_objects INTEGER, used_bytes INTEGER, held_bytes INTEGER, "
     "free_extents INTEGER, largest_free_extent_bytes INTEGER, fragmentation_ratio REAL, allocs INTEGER, "
     "frees INTEGER)", 9, fill_large},
    {"fragmentation_stats",
     "CREATE TABLE x(component TEXT, fragmentation_ratio REAL, status TEXT, used_bytes INTEGER, "
     "held_bytes INTEGER)", 5, fill_frag},
    {"orphaned_transactions",
     "CREATE TABLE x(connection_id INTEGER, idle_seconds REAL, database TEXT, reason TEXT)", 4, fill_orphans},
};

/* ---- the module ---------------------------------------------------------------- */

typedef struct vt {
    sqlite3_vtab base;
    const table_def_t *def;
} vt_t;

typedef struct cur {
    sqlite3_vtab_cursor base;
    rows_t rows;
    size_t at;
} cur_t;

static int
x_connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **out, char **err)
{
    (void)argc;
    (void)argv;
    (void)err;
    const table_def_t *def = aux;
    int rc = sqlite3_declare_vtab(db, def->schema);
    if (rc != SQLITE_OK)
        return rc;
    vt_t *v = sqlite3_malloc(sizeof *v);
    if (!v)
        return SQLITE_NOMEM;
    memset(v, 0, sizeof *v);
    v->def = def;
    (void)sqlite3_vtab_config(db, SQLITE_VTAB_INNOCUOUS);
    *out = &v->base;
    return SQLITE_OK;
}

static int
x_disconnect(sqlite3_vtab *v)
{
    sqlite3_free(v);
    return SQLITE_OK;
}

static int
x_best_index(sqlite3_vtab *v, sqlite3_index_info *info)
{
    (void)v;
    info->estimatedCost = 10.0;
    info->estimatedRows = 16;
    return SQLITE_OK;
}

static int
x_open(sqlite3_vtab *v, sqlite3_vtab_cursor **out)
{
    cur_t *c = sqlite3_malloc(sizeof *c);
    if (!c)
        return SQLITE_NOMEM;
    memset(c, 0, sizeof *c);
    c->rows.ncols = ((vt_t *)v)->def->ncols;
    *out = &c->base;
    return SQLITE_OK;
}

static int
x_close(sqlite3_vtab_cursor *cur)
{
    cur_t *c = (cur_t *)cur;
    rows_free(&c->rows);
    sqlite3_free(c);
    return SQLITE_OK;
}

static int
x_filter(sqlite3_vtab_cursor *cur, int idx, const char *idxs, int argc, sqlite3_value **argv)
{
    (void)idx;
    (void)idxs;
    (void)argc;
    (void)argv;
    cur_t *c = (cur_t *)cur;
    int ncols = c->rows.ncols;
    rows_free(&c->rows);
    c->rows.ncols = ncols;
    ((vt_t *)cur->pVtab)->def->fill(&c->rows);
    c->at = 0;
    return c->rows.oom ? SQLITE_NOMEM : SQLITE_OK;
}

static int
x_next(sqlite3_vtab_cursor *cur)
{
    ((cur_t *)cur)->at++;
    return SQLITE_OK;
}

static int
x_eof(sqlite3_vtab_cursor *cur)
{
    cur_t *c = (cur_t *)cur;
    return c->at >= c->rows.n;
}

static int
x_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int i)
{
    cur_t *c = (cur_t *)cur;
    const cell_t *cell = &c->rows.c[c->at * (size_t)c->rows.ncols + (size_t)i];
    switch (cell->type) {
    case SQLITE_INTEGER: sqlite3_result_int64(ctx, cell->i); break;
    case SQLITE_FLOAT: sqlite3_result_double(ctx, cell->d); break;
    case SQLITE_TEXT: sqlite3_result_text(ctx, cell->t, -1, SQLITE_TRANSIENT); break;
    default: sqlite3_result_null(ctx); break;
    }
    return SQLITE_OK;
}

static int
x_rowid(sqlite3_vtab_cursor *cur, sqlite_int64 *rowid)
{
    *rowid = (sqlite_int64)((cur_t *)cur)->at;
    return SQLITE_OK;
}

static const sqlite3_module module = {
    .iVersion = 0,
    .xCreate = NULL,   /* eponymous-only: no CREATE VIRTUAL TABLE */
    .xConnect = x_connect,
    .xBestIndex = x_best_index,
    .xDisconnect = x_disconnect,
    .xDestroy = x_disconnect,
    .xOpen = x_open,
    .xClose = x_close,
    .xFilter = x_filter,
    .xNext = x_next,
    .xEof = x_eof,
    .xColumn = x_column,
    .xRowid = x_rowid,
};

/* ---- the functions ---------------------------------------------------------------- */

/* SELECT force_garbage_collection(): bytes freed (page cache, SQLite's caches, slab, large). */
static void
f_gc(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    (void)argv;
    sqlite3_result_int64(ctx, (sqlite3_int64)rm_sqlite__force_gc());
}

/* SELECT clear_plan_cache(): SQLite keeps no shared plan cache (prepared
 * statements belong to the application), so there is none to clear: 0 plans. */
static void
f_plans(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    (void)argv;
    sqlite3_result_int64(ctx, 0);
}

/* SELECT kill_orphaned_transactions(): roll back the transactions listed by
 * orphaned_transactions (open, idle ≥ RM_SQLITE_ORPHAN_IDLE_S) of other
 * connections whose mutex is free; returns how many. */
static void
f_kill_orphans(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    (void)argv;
    sqlite3_result_int64(ctx, (sqlite3_int64)rm_sqlite__kill_orphans(sqlite3_context_db_handle(ctx)));
}

/* SELECT memory_forecast(): the forecaster's view as JSON text (NULL without a sampler). */
static void
f_forecast(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    (void)argv;
    rm_pressure_t *p = rm_sqlite__pressure();
    if (!p) {
        sqlite3_result_null(ctx);
        return;
    }
    rm_pressure_forecast_t fc;
    memset(&fc, 0, sizeof fc);
    rm_pressure_get_forecast(p, &fc);
    sqlite3_str *s = sqlite3_str_new(sqlite3_context_db_handle(ctx));
    sqlite3_str_appendf(s, "{\"samples\":%u,\"used_bytes\":%llu,\"budget_bytes\":%llu,\"usage\":%.6f,"
                           "\"level\":\"%s\",\"recommended_action\":\"%s\",\"time_to_critical_sec\":%.3f,"
                           "\"horizons\":[",
                        fc.samples, (unsigned long long)fc.used_bytes, (unsigned long long)fc.budget_bytes,
                        fc.usage, rm_pressure_level_name(fc.level), rm_pressure_action_name(fc.level),
                        fc.time_to_critical_sec);
    for (uint32_t i = 0; i < fc.n_horizons && i < RM_PRESSURE_HORIZONS_MAX; i++)
        sqlite3_str_appendf(s, "%s{\"seconds\":%u,\"predicted_usage\":%.6f,\"confidence\":%.4f,\"level\":\"%s\"}",
                            i ? "," : "", fc.horizons[i].horizon_sec, fc.horizons[i].predicted_usage,
                            fc.horizons[i].confidence, rm_pressure_level_name(fc.horizons[i].predicted_level));
    sqlite3_str_appendall(s, "]}");
    int len = sqlite3_str_length(s);
    char *txt = sqlite3_str_finish(s);
    if (!txt) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    sqlite3_result_text(ctx, txt, len, sqlite3_free);
}

int
rm_sqlite__sql_register(sqlite3 *db, char **errmsg)
{
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        int rc = sqlite3_create_module_v2(db, tables[i].name, &module, (void *)&tables[i], NULL);
        if (rc != SQLITE_OK) {
            *errmsg = sqlite3_mprintf("rustymem: cannot register %s: %s", tables[i].name, sqlite3_errstr(rc));
            return rc;
        }
    }
    static const struct {
        const char *name;
        void (*fn)(sqlite3_context *, int, sqlite3_value **);
    } fns[] = {
        {"force_garbage_collection", f_gc},
        {"clear_plan_cache", f_plans},
        {"kill_orphaned_transactions", f_kill_orphans},
        {"memory_forecast", f_forecast},
    };
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
        int rc = sqlite3_create_function_v2(db, fns[i].name, 0, SQLITE_UTF8 | SQLITE_DIRECTONLY, NULL, fns[i].fn,
                                            NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            *errmsg = sqlite3_mprintf("rustymem: cannot register %s(): %s", fns[i].name, sqlite3_errstr(rc));
            return rc;
        }
    }
    return SQLITE_OK;
}
