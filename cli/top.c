/*
 * top.c — `rustymemctl top`: a live view of one agent or, with --fleet, of
 * every node of a rustymem-fleet controller.
 *
 * Design note: every --interval the agent is asked for MemoryStats, Forecast
 * and BufferPoolStats (the fleet for ListNodes); each component's (node's)
 * bytes are compared with the previous refresh to show the change. On a
 * terminal the frame is drawn on the alternate screen from the top-left
 * corner, every line cut to the width and the frame cut to the height, and
 * no newline is written after the last row, so nothing ever scrolls. The
 * terminal is put in non-canonical no-echo mode for single keys and restored
 * on every way out: q, an error, SIGINT/SIGTERM/SIGHUP (the handler restores
 * and re-raises the signal).
 */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "rm_clock.h"
#include "rustymem/v1/fleet.pb-c.h"
#include "rustymem/v1/forecast.pb-c.h"
#include "rustymem/v1/memory.pb-c.h"

#define MAX_ROWS 256
#define MAX_LINES 256

typedef struct row {
    char name[64];
    char level[24];    /* fleet: the node's level */
    double used, held; /* agent: component used/held bytes; fleet: usage ratio, RSS bytes */
    double d_used, d_held;
    double pct;        /* agent: share of memcore; fleet: time to critical in seconds (NAN: none) */
    char extra[32];    /* fleet: last contact age */
    int has_prev;
} row_t;

typedef struct frame {
    char head[4][256];
    int n_head;
    row_t rows[MAX_ROWS];
    int n_rows;
    char error[300];
} frame_t;

/* snprintf that may cut: frames are cut to the terminal anyway. */
static void fit(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void
fit(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
}

static struct termios saved_tio;
static int tio_saved, alt_screen;

static void
restore_terminal(void)
{
    if (alt_screen) {
        static const char leave[] = "\033[?25h\033[?1049l";
        ssize_t r = write(STDOUT_FILENO, leave, sizeof leave - 1);
        (void)r;
        alt_screen = 0;
    }
    if (tio_saved) {
        tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
        tio_saved = 0;
    }
}

static void
on_signal(int sig)
{
    restore_terminal(); /* write and tcsetattr are async-signal-safe */
    signal(sig, SIG_DFL);
    raise(sig);
}

static double
mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Previous refresh, to compute the change per interval. */
static row_t prev_rows[MAX_ROWS];
static int n_prev;
static double prev_hits = -1, prev_misses, prev_evictions;

static const row_t *
find_prev(const char *name)
{
    for (int i = 0; i < n_prev; i++)
        if (strcmp(prev_rows[i].name, name) == 0)
            return &prev_rows[i];
    return NULL;
}

static void
remember(const frame_t *f)
{
    n_prev = f->n_rows;
    memcpy(prev_rows, f->rows, sizeof(row_t) * (size_t)f->n_rows);
}

static void
call_failed(frame_t *f, const char *what, grpc_status_code code, const rm_call_status_t *st, const global_t *g)
{
    if (!f->error[0])
        fit(f->error, sizeof f->error, "%s: %s: %s%s", what, rm_client_status_name(code),
                 st->message[0] ? st->message : "(no message)", rm_hint_for(code, g));
}

static void
fetch_agent(rm_client_t *client, const global_t *g, frame_t *f, double interval)
{
    ProtobufCMessage *ms = NULL, *fc = NULL, *bp = NULL;
    rm_call_status_t st;
    grpc_status_code code;
    Rustymem__V1__GetMemoryStatsRequest mreq = RUSTYMEM__V1__GET_MEMORY_STATS_REQUEST__INIT;
    Rustymem__V1__GetForecastRequest freq = RUSTYMEM__V1__GET_FORECAST_REQUEST__INIT;
    Rustymem__V1__GetBufferPoolStatsRequest breq = RUSTYMEM__V1__GET_BUFFER_POOL_STATS_REQUEST__INIT;
    code = rm_client_unary(client, "/rustymem.v1.MemoryService/GetMemoryStats", &mreq.base,
                           &rustymem__v1__memory_stats__descriptor, &ms, &st);
    if (code != GRPC_STATUS_OK) {
        call_failed(f, "GetMemoryStats", code, &st, g);
        return;
    }
    code = rm_client_unary(client, "/rustymem.v1.ForecastService/GetForecast", &freq.base,
                           &rustymem__v1__forecast__descriptor, &fc, &st);
    if (code != GRPC_STATUS_OK)
        call_failed(f, "GetForecast", code, &st, g);
    code = rm_client_unary(client, "/rustymem.v1.MemoryService/GetBufferPoolStats", &breq.base,
                           &rustymem__v1__buffer_pool_stats__descriptor, &bp, &st);
    if (code != GRPC_STATUS_OK)
        call_failed(f, "GetBufferPoolStats", code, &st, g);

    const Rustymem__V1__MemoryStats *m = (const void *)ms;
    const Rustymem__V1__Forecast *fo = (const void *)fc;
    const Rustymem__V1__BufferPoolStats *b = (const void *)bp;
    char used[32], budget[32], rss[32], held[32], iv[32];
    rm_fmt_bytes(used, sizeof used, (double)m->used_bytes);
    rm_fmt_bytes(budget, sizeof budget, (double)m->budget_bytes);
    rm_fmt_bytes(rss, sizeof rss, (double)m->rss_bytes);
    rm_fmt_bytes(held, sizeof held, (double)m->memcore_held_bytes);
    rm_fmt_duration(iv, sizeof iv, interval);
    time_t now = time(NULL);
    struct tm tm;
    char clock[16];
    localtime_r(&now, &tm);
    strftime(clock, sizeof clock, "%H:%M:%S", &tm);
    snprintf(f->head[0], sizeof f->head[0], "rustymemctl top  %s %s at %s  every %s  %s",
             m->node_name && m->node_name[0] ? m->node_name : "?", m->version && m->version[0] ? m->version : "?",
             g->client.target, iv, clock);
    char level[24] = "?", ttc[32] = "none";
    if (fo) {
        rm_fmt_enum(level, sizeof level, &rustymem__v1__pressure_level__descriptor, fo->current_level);
        if (fo->has_time_to_critical)
            rm_fmt_duration(ttc, sizeof ttc, fo->time_to_critical_seconds);
    }
    snprintf(f->head[1], sizeof f->head[1], "level %s  usage %.1f%% (%s of %s)  time to critical %s", level,
             m->usage_ratio * 100.0, used, budget, ttc);
    char hit[64] = "-", ev[32] = "";
    if (b) {
        double h = (double)b->hits_total, mi = (double)b->misses_total, e = (double)b->evictions_total;
        if (h + mi == 0)
            snprintf(hit, sizeof hit, "- (no lookups)");
        else if (prev_hits >= 0 && h + mi - prev_hits - prev_misses > 0)
            snprintf(hit, sizeof hit, "%.1f%% (interval %.1f%%)", b->hit_ratio * 100.0,
                     100.0 * (h - prev_hits) / (h + mi - prev_hits - prev_misses));
        else
            snprintf(hit, sizeof hit, "%.1f%%", b->hit_ratio * 100.0);
        if (prev_hits >= 0)
            snprintf(ev, sizeof ev, "  evictions %+.0f", e - prev_evictions);
        prev_hits = h, prev_misses = mi, prev_evictions = e;
    }
    snprintf(f->head[2], sizeof f->head[2], "rss %s  memcore held %s  pool hit %s%s", rss, held, hit, ev);
    f->n_head = 3;
    for (size_t i = 0; i < m->n_components && f->n_rows < MAX_ROWS; i++) {
        const Rustymem__V1__ComponentUsage *c = m->components[i];
        row_t *r = &f->rows[f->n_rows++];
        memset(r, 0, sizeof *r);
        snprintf(r->name, sizeof r->name, "%s%s", c->component, c->nested ? "*" : "");
        r->used = (double)c->used_bytes;
        r->held = (double)c->held_bytes;
        r->pct = c->percentage;
        const row_t *p = find_prev(r->name);
        if (p) {
            r->has_prev = 1;
            r->d_used = r->used - p->used;
            r->d_held = r->held - p->held;
        }
    }
    protobuf_c_message_free_unpacked(ms, NULL);
    if (fc)
        protobuf_c_message_free_unpacked(fc, NULL);
    if (bp)
        protobuf_c_message_free_unpacked(bp, NULL);
}

static void
fetch_fleet(rm_client_t *client, const global_t *g, frame_t *f, double interval)
{
    Rustymem__V1__ListNodesRequest req = RUSTYMEM__V1__LIST_NODES_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    rm_call_status_t st;
    grpc_status_code code = rm_client_unary(client, "/rustymem.v1.FleetService/ListNodes", &req.base,
                                            &rustymem__v1__list_nodes_response__descriptor, &resp, &st);
    if (code != GRPC_STATUS_OK) {
        call_failed(f, "ListNodes", code, &st, g);
        return;
    }
    const Rustymem__V1__ListNodesResponse *r = (const void *)resp;
    int by_level[8] = {0}, reachable = 0;
    double rss = 0, budget = 0;
    long long now_ms = (long long)rm_wall_ms();
    for (size_t i = 0; i < r->n_nodes && f->n_rows < MAX_ROWS; i++) {
        const Rustymem__V1__NodeInfo *n = r->nodes[i];
        row_t *w = &f->rows[f->n_rows++];
        memset(w, 0, sizeof *w);
        snprintf(w->name, sizeof w->name, "%s", n->name);
        if (n->reachable)
            rm_fmt_enum(w->level, sizeof w->level, &rustymem__v1__pressure_level__descriptor, n->level);
        else
            snprintf(w->level, sizeof w->level, "unreachable");
        w->used = n->usage_ratio;
        w->held = (double)n->rss_bytes;
        w->pct = n->has_time_to_critical ? n->time_to_critical_seconds : NAN;
        rm_fmt_age(w->extra, sizeof w->extra, (long long)n->last_contact_unix_ms, now_ms);
        const row_t *p = find_prev(w->name);
        if (p) {
            w->has_prev = 1;
            w->d_used = w->used - p->used;
            w->d_held = w->held - p->held;
        }
        reachable += n->reachable != 0;
        if (n->level >= 0 && n->level < 8)
            by_level[n->level]++;
        rss += (double)n->rss_bytes;
        budget += (double)n->budget_bytes;
    }
    char iv[32], rs[32], bu[32], levels[160] = "";
    size_t len = 0;
    for (int l = 1; l < 6; l++)
        if (by_level[l]) {
            char w[24];
            rm_fmt_enum(w, sizeof w, &rustymem__v1__pressure_level__descriptor, l);
            len += (size_t)snprintf(levels + len, sizeof levels - len, " %s %d", w, by_level[l]);
        }
    rm_fmt_duration(iv, sizeof iv, interval);
    rm_fmt_bytes(rs, sizeof rs, rss);
    rm_fmt_bytes(bu, sizeof bu, budget);
    snprintf(f->head[0], sizeof f->head[0], "rustymemctl top  fleet at %s  every %s", g->client.target, iv);
    snprintf(f->head[1], sizeof f->head[1], "%zu nodes, %d reachable; by level:%s", r->n_nodes, reachable,
             levels[0] ? levels : " -");
    snprintf(f->head[2], sizeof f->head[2], "fleet rss %s of budget %s", rs, bu);
    f->n_head = 3;
    protobuf_c_message_free_unpacked(resp, NULL);
}

static const char *sort_key;

static int
cmp_rows(const void *a, const void *b)
{
    const row_t *x = a, *y = b;
    double d = 0;
    if (strcmp(sort_key, "name") == 0)
        return strcmp(x->name, y->name);
    if (strcmp(sort_key, "held") == 0)
        d = y->held - x->held;
    else if (strcmp(sort_key, "delta") == 0)
        d = fabs(y->d_used) + fabs(y->d_held) - fabs(x->d_used) - fabs(x->d_held);
    else
        d = y->used - x->used;
    return d > 0 ? 1 : d < 0 ? -1 : strcmp(x->name, y->name);
}

/* The frame as lines of at most `cols` bytes (ASCII), at most `rows` of them. */
static int
layout(frame_t *f, int fleet, int cols, int rows, char lines[][256])
{
    int n = 0;
    for (int i = 0; i < f->n_head && n < rows; i++)
        snprintf(lines[n++], 256, "%s", f->head[i]);
    if (f->error[0] && n < rows)
        fit(lines[n++], 256, "error: %s", f->error);
    if (n < rows)
        snprintf(lines[n++], 256, "sort %s   keys: u used  h held  d delta  n name  q quit%s", sort_key,
                 fleet ? "" : "   * nested");
    if (n < rows)
        lines[n++][0] = '\0';
    qsort(f->rows, (size_t)f->n_rows, sizeof(row_t), cmp_rows);
    if (n < rows) {
        if (fleet)
            snprintf(lines[n++], 256, "%-20s %-11s %7s %8s %10s %10s %9s %9s", "NODE", "LEVEL", "USAGE", "DELTA",
                     "RSS", "DELTA", "TTC", "SEEN");
        else
            snprintf(lines[n++], 256, "%-20s %10s %11s %10s %11s %6s", "COMPONENT", "USED", "DELTA", "HELD",
                     "DELTA", "SHARE");
    }
    int room = rows - n;
    for (int i = 0; i < f->n_rows && room > 0; i++, room--) {
        const row_t *r = &f->rows[i];
        if (room == 1 && i < f->n_rows - 1) {
            snprintf(lines[n++], 256, "... %d more (a taller terminal shows them)", f->n_rows - i);
            break;
        }
        char a[32], da[32], b[32], db[32];
        if (fleet) {
            char ttc[32];
            rm_fmt_bytes(b, sizeof b, r->held);
            if (r->has_prev) {
                snprintf(da, sizeof da, "%+.1f%%", r->d_used * 100.0);
                rm_fmt_signed_bytes(db, sizeof db, r->d_held);
            } else {
                snprintf(da, sizeof da, "-");
                snprintf(db, sizeof db, "-");
            }
            if (isnan(r->pct))
                snprintf(ttc, sizeof ttc, "none");
            else
                rm_fmt_duration(ttc, sizeof ttc, r->pct);
            snprintf(lines[n++], 256, "%-20.20s %-11.11s %6.1f%% %8s %10s %10s %9s %9s", r->name, r->level,
                     r->used * 100.0, da, b, db, ttc, r->extra);
        } else {
            rm_fmt_bytes(a, sizeof a, r->used);
            rm_fmt_bytes(b, sizeof b, r->held);
            if (r->has_prev) {
                rm_fmt_signed_bytes(da, sizeof da, r->d_used);
                rm_fmt_signed_bytes(db, sizeof db, r->d_held);
            } else {
                snprintf(da, sizeof da, "-");
                snprintf(db, sizeof db, "-");
            }
            snprintf(lines[n++], 256, "%-20.20s %10s %11s %10s %11s %5.1f%%", r->name, a, da, b, db, r->pct);
        }
    }
    for (int i = 0; i < n; i++)
        if (cols > 0 && cols < 256)
            lines[i][cols] = '\0';
    return n;
}

static void
draw(FILE *out, frame_t *f, int fleet, int tty)
{
    static char lines[MAX_LINES][256];
    int cols = 100, rows = MAX_LINES;
    struct winsize ws;
    if (tty && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0) {
        cols = ws.ws_col;
        rows = ws.ws_row < MAX_LINES ? ws.ws_row : MAX_LINES;
    }
    int n = layout(f, fleet, cols, rows, lines);
    if (tty) {
        fputs("\033[H", out); /* home; each line clears its rest, the screen below is cleared at the end */
        for (int i = 0; i < n; i++)
            fprintf(out, "%s\033[K%s", lines[i], i + 1 < n ? "\r\n" : "");
        fputs("\033[J", out);
    } else {
        for (int i = 0; i < n; i++)
            fprintf(out, "%s\n", lines[i]);
        fputc('\n', out);
    }
    fflush(out);
}

int
rm_cmd_top(const command_t *cmd, global_t *g, int npos, char **pos)
{
    (void)cmd, (void)npos, (void)pos;
    int tty = isatty(STDOUT_FILENO);
    if (!tty && rm_top_count == 0)
        return rm_usage_error("top: stdout is not a terminal: give --count N to print N refreshes");
    if (rm_top_interval_s < 0.1)
        return rm_usage_error("top: --interval: at least 100ms");
    if (g->render.mode == RM_OUT_JSON || g->render.mode == RM_OUT_YAML)
        return rm_usage_error("top: -o json/yaml: top is for people; use 'watch -o json' or 'stats memory -o json'");
    rm_client_t *client;
    int rc = rm_open_client(g, &client);
    if (rc)
        return rc;
    sort_key = rm_top_sort;
    int keys = tty && isatty(STDIN_FILENO);
    if (tty) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGHUP, &sa, NULL);
        if (keys && tcgetattr(STDIN_FILENO, &saved_tio) == 0) {
            struct termios t = saved_tio;
            t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
            t.c_cc[VMIN] = 0;
            t.c_cc[VTIME] = 0;
            tio_saved = 1;
            tcsetattr(STDIN_FILENO, TCSANOW, &t);
        }
        fputs("\033[?1049h\033[?25l\033[H\033[2J", stdout);
        alt_screen = 1;
        atexit(restore_terminal);
    }
    int failed = 0, quit = 0;
    static frame_t f;
    for (int n = 0; !quit && (rm_top_count == 0 || n < rm_top_count); n++) {
        double start = mono_now();
        memset(&f, 0, sizeof f);
        if (g->fleet)
            fetch_fleet(client, g, &f, rm_top_interval_s);
        else
            fetch_agent(client, g, &f, rm_top_interval_s);
        failed |= f.error[0] != 0;
        if (!f.n_head)
            snprintf(f.head[f.n_head++], sizeof f.head[0], "rustymemctl top  %s", g->client.target);
        draw(stdout, &f, g->fleet, tty);
        remember(&f);
        if (rm_top_count && n + 1 == rm_top_count)
            break;
        /* wait for the next refresh; keys act at once */
        for (;;) {
            double left = rm_top_interval_s - (mono_now() - start);
            if (left <= 0)
                break;
            if (!keys) {
                struct timespec ts = {(time_t)left, (long)((left - floor(left)) * 1e9)};
                nanosleep(&ts, NULL);
                break;
            }
            struct pollfd p = {STDIN_FILENO, POLLIN, 0};
            int r = poll(&p, 1, (int)ceil(left * 1000.0));
            if (r <= 0)
                continue;
            char ch;
            if (read(STDIN_FILENO, &ch, 1) != 1)
                continue;
            const char *k = ch == 'u' ? "used" : ch == 'h' ? "held" : ch == 'd' ? "delta" : ch == 'n' ? "name" : NULL;
            if (ch == 'q' || ch == 'Q') {
                quit = 1;
                break;
            }
            if (k) {
                sort_key = k;
                draw(stdout, &f, g->fleet, tty);
            }
        }
    }
    restore_terminal();
    rm_client_destroy(client);
    if (failed && !tty) {
        fprintf(stderr, "rustymemctl: top: %s\n", f.error[0] ? f.error : "a refresh failed");
        return EXIT_RPC;
    }
    return 0;
}
