/*
 * knobs.c — the knob registry: parsing, formatting, atomic validated sets,
 * subscribers, persistence hand-off and profiles (the Markdown reference is
 * knobs_doc.c).
 *
 * Design note.
 *  - Writers hold `mu` for the whole of a set: they build the would-be state
 *    in scratch arrays owned by the instance (no allocation on the set path
 *    except the INI text handed to the persister and the apply jobs),
 *    validate it, ask the vetoes and the persister, and only then commit.
 *  - Readers never take `mu`. Running values are stored as 64-bit words that
 *    the committing writer updates with release stores inside a sequence
 *    counter (odd while copying). A scalar lives in one word, so a scalar
 *    getter is a single acquire load and can never see a torn value; lists and
 *    multi-knob snapshots (rm_knobs_read) retry while the counter is odd or
 *    moved. Every shared access is an atomic operation, so ThreadSanitizer sees
 *    no race and no fence is needed (x86: all plain moves).
 *  - Apply outside the lock (ADR 0025). Validation, vetoes, the persister and
 *    the commit run under `mu`; the subscribers' apply callbacks (a buffer-pool
 *    resize writes dirty pages and waits for pinned frames) do not. A commit
 *    queues one job per subscriber (allocated before the persister runs, so
 *    nothing after the commit can fail) on a FIFO guarded by `qmu`, then
 *    releases `mu`. The setter that finds no apply running drains the queue
 *    itself, in commit order, outside both locks; a setter that finds one
 *    running returns at once, its change committed and "applying" (it is
 *    applied by the draining thread after the earlier ones). A queued, not
 *    yet started change of a knob is superseded by a later change of the
 *    same knob for the same subscriber: the later job carries the earlier
 *    job's old value, the earlier entry is dropped. Order: mu → qmu.
 *  - Persistence without I/O under the lock (ADR 0031). An asynchronous
 *    persister (rm_knobs_set_persister_async) is handed the would-be persisted
 *    text and its generation (persist_gen + 1) under `mu` and only takes it;
 *    its writer reports the generation it wrote with rm_knobs_persist_done,
 *    which advances durable_gen under `qmu` (qcv wakes rm_knobs_wait_persisted).
 *    A synchronous persister's success makes its generation durable at once.
 *  - Cross-knob constraints are checked on the would-be configured state (what
 *    a restart will use) and the would-be running state (what the process uses
 *    now, which keeps the old value of a restart-only knob): both must hold, so
 *    the running process is never in a state a restart would refuse, nor the
 *    reverse.
 */
#include "knobs_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rm_internal.h"

#define NK RM_KNOB_COUNT
#define VALUE_WORDS (1 + RM_KNOB_LIST_MAX)

struct rm_knobs_sub {
    struct rm_knobs_sub *next; /* guarded by the owner's mu */
    char *prefix;              /* owned */
    size_t prefix_len;         /* bytes */
    rm_knobs_veto_fn veto;
    rm_knobs_apply_fn apply;
    void *ctx;
};

/* One subscriber's apply callback for one commit (see the design note). */
typedef struct apply_job {
    struct apply_job *next;              /* guarded by qmu */
    rm_knobs_sub_t *sub;
    size_t n;                            /* guarded by qmu while queued (supersession shrinks it) */
    rm_knob_change_t changes[];          /* n of them */
} apply_job_t;

struct rm_knobs {
    pthread_mutex_t mu;                  /* serialises writers and subscription changes */
    pthread_mutex_t qmu;                 /* the apply queue */
    pthread_cond_t qcv;                  /* signalled when a job finishes */
    apply_job_t *q_head, *q_tail;        /* guarded by qmu: committed, not started */
    apply_job_t *q_running;              /* guarded by qmu: the job whose callback runs now */
    bool draining;                       /* guarded by qmu: a thread is running the queue */
    uint32_t q_pending[NK];              /* guarded by qmu: queued or running entries per knob */
    uint64_t seq;                        /* seqlock counter; atomic; written under mu */
    uint64_t generation;                 /* commits; atomic; written under mu */
    rm_knob_value_t running[NK];         /* words atomic; written under mu inside seq */
    rm_knob_value_t configured[NK];      /* guarded by mu */
    rm_knob_value_t persisted[NK];       /* guarded by mu; valid where is_persisted */
    bool is_persisted[NK];               /* guarded by mu */
    bool started;                        /* guarded by mu */
    rm_knobs_sub_t *subs;                /* guarded by mu */
    rm_knobs_persist_fn persist;         /* guarded by mu */
    rm_knobs_persist_async_fn persist_async; /* guarded by mu; excludes persist */
    void *persist_ctx;                   /* guarded by mu */
    uint64_t persist_gen;                /* persisted texts handed over; atomic; written under mu */
    uint64_t durable_gen;                /* guarded by qmu: the newest generation on disk */
    uint64_t failed_gen;                 /* guarded by qmu: generation of the last failed write */
    rm_status_t persist_status;          /* guarded by qmu: the writer's last outcome */
    char persist_error[200];             /* guarded by qmu: its reason, "" after a success */
    /* Scratch for one set, guarded by mu. */
    rm_knob_value_t w_conf[NK], w_run[NK], w_pers[NK];
    bool w_is_pers[NK];
    size_t w_index[NK];                  /* assignment index per knob, SIZE_MAX = none */
    rm_knob_change_t w_changes[NK];
    rm_knob_change_t w_sub_changes[NK];
    /* Sources (rm_knobs_set_base, rm_knobs_get_source), guarded by mu. */
    uint8_t origin[NK], w_origin[NK];    /* ORIGIN_*: where the configured value came from */
    uint8_t base_src[NK];                /* rm_knob_source_t of the reset value */
    rm_knob_value_t base[NK];            /* reset value; valid where base_src != DEFAULT */
    char base_where[NK][RM_KNOB_SOURCE_MAX]; /* "path:line", variable or flag name */
};

/* Where a configured value came from: the boot layers (base_src) or a runtime set. */
enum { ORIGIN_BASE = 0, ORIGIN_RUNTIME_PERSISTED, ORIGIN_RUNTIME_MEMORY };
/* Internal rm_knobs_set_ex flag of rm_knobs_reset: forget the persisted value. */
#define RM__KNOBS_RESET 0x80000000u

/* ---- small helpers ------------------------------------------------------ */

static void
err_set(rm_knob_error_t *err, rm_status_t st, size_t index, const char *knob, const char *fmt,
        ...) __attribute__((format(printf, 5, 6)));

static void
err_set(rm_knob_error_t *err, rm_status_t st, size_t index, const char *knob, const char *fmt,
        ...)
{
    if (!err)
        return;
    err->status = st;
    err->index = index;
    snprintf(err->knob, sizeof err->knob, "%s", knob ? knob : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
}

static void
err_ok(rm_knob_error_t *err, size_t pending)
{
    if (!err)
        return;
    memset(err, 0, sizeof *err);
    err->status = RM_OK;
    err->index = SIZE_MAX;
    err->pending_restart = pending;
}

static void
why_set(char *why, size_t why_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
why_set(char *why, size_t why_len, const char *fmt, ...)
{
    if (!why || why_len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
}

static int
lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

static int
streq_ci(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (lower((unsigned char)*a) != lower((unsigned char)*b))
            return 0;
    return *a == *b;
}

static int
is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Shortest "%.*g" text that reads back to exactly d. */
static void
format_double(double d, char *buf, size_t len)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            return;
    }
}

static const struct {
    const char *suffix;
    int64_t mult;
} byte_suffixes[] = {
    {"", 1},
    {"b", 1},
    {"kib", INT64_C(1) << 10},
    {"mib", INT64_C(1) << 20},
    {"gib", INT64_C(1) << 30},
    {"tib", INT64_C(1) << 40},
    {"kb", INT64_C(1000)},
    {"mb", INT64_C(1000000)},
    {"gb", INT64_C(1000000000)},
    {"tb", INT64_C(1000000000000)},
};

static void
format_bytes(int64_t v, char *buf, size_t len)
{
    static const struct {
        const char *s;
        int shift;
    } bin[] = {{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}};
    if (v > 0)
        for (size_t i = 0; i < RM_ARRAY_LEN(bin); i++) {
            int64_t m = INT64_C(1) << bin[i].shift;
            if (v % m == 0) {
                snprintf(buf, len, "%" PRId64 "%s", v / m, bin[i].s);
                return;
            }
        }
    snprintf(buf, len, "%" PRId64, v);
}

/*
 * Parse a decimal integer with optional sign and '_' separators between
 * digits. *end receives the first unparsed character. 0 on success.
 */
static int
parse_int_prefix(const char *s, int64_t *out, const char **end)
{
    int neg = 0;
    uint64_t acc = 0;
    int digits = 0;
    if (*s == '+' || *s == '-')
        neg = *s++ == '-';
    for (;; s++) {
        if (*s == '_' && digits && s[1] >= '0' && s[1] <= '9')
            continue;
        if (*s < '0' || *s > '9')
            break;
        if (acc > (UINT64_MAX - 9) / 10)
            return -1;
        acc = acc * 10 + (uint64_t)(*s - '0');
        digits++;
        if (acc > (uint64_t)INT64_MAX + (uint64_t)neg)
            return -1;
    }
    if (!digits)
        return -1;
    *out = neg ? (int64_t)(0 - acc) : (int64_t)acc;
    *end = s;
    return 0;
}

static rm_status_t
parse_bytes(const char *s, int64_t *out, char *why, size_t why_len)
{
    int64_t ip = 0, frac = 0, scale = 1;
    const char *p;
    if (*s == '-' || parse_int_prefix(s, &ip, &p) != 0) {
        why_set(why, why_len, "not a byte count (e.g. 4096, 2MiB, 100MB)");
        return RM_EINVAL;
    }
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') {
            if (scale > INT64_C(100000000000000)) {
                why_set(why, why_len, "too many decimals");
                return RM_EINVAL;
            }
            frac = frac * 10 + (*p++ - '0');
            scale *= 10;
        }
    }
    while (is_space((unsigned char)*p))
        p++;
    for (size_t i = 0; i < RM_ARRAY_LEN(byte_suffixes); i++) {
        if (!streq_ci(p, byte_suffixes[i].suffix))
            continue;
        int64_t m = byte_suffixes[i].mult, a, b;
        if (__builtin_mul_overflow(ip, m, &a) || __builtin_mul_overflow(frac, m, &b)) {
            why_set(why, why_len, "too large");
            return RM_EINVAL;
        }
        if (b % scale != 0) {
            why_set(why, why_len, "not a whole number of bytes");
            return RM_EINVAL;
        }
        if (__builtin_add_overflow(a, b / scale, out)) {
            why_set(why, why_len, "too large");
            return RM_EINVAL;
        }
        return RM_OK;
    }
    why_set(why, why_len, "unknown unit '%s' (use B, kB, MB, GB, TB, KiB, MiB, GiB or TiB)", p);
    return RM_EINVAL;
}

void
rm__knobs_format_range(const rm_knob_def_t *def, char *buf, size_t len)
{
    char a[RM_KNOB_TEXT_MAX], b[RM_KNOB_TEXT_MAX];
    switch (def->type) {
    case RM_KNOB_DOUBLE:
        format_double(def->min_d, a, sizeof a);
        format_double(def->max_d, b, sizeof b);
        break;
    case RM_KNOB_BYTES:
        format_bytes(def->min_i, a, sizeof a);
        format_bytes(def->max_i, b, sizeof b);
        break;
    default:
        snprintf(a, sizeof a, "%" PRId64, def->min_i);
        snprintf(b, sizeof b, "%" PRId64, def->max_i);
        break;
    }
    snprintf(buf, len, "[%s, %s]", a, b);
}

/* ---- definitions -------------------------------------------------------- */

size_t
rm_knobs_count(void)
{
    return NK;
}

const rm_knob_def_t *
rm_knobs_def(rm_knob_id_t id)
{
    return (unsigned)id < NK ? &rm__knob_defs[id] : NULL;
}

rm_status_t
rm_knobs_lookup(const char *name, rm_knob_id_t *id)
{
    if (!name)
        return RM_ENOENT;
    for (size_t i = 0; i < NK; i++)
        if (strcmp(rm__knob_defs[i].name, name) == 0) {
            *id = (rm_knob_id_t)i;
            return RM_OK;
        }
    return RM_ENOENT;
}

rm_status_t
rm_knobs_parse(const rm_knob_def_t *def, const char *text, rm_knob_value_t *out, char *why,
               size_t why_len)
{
    char buf[256], range[2 * RM_KNOB_TEXT_MAX + 8];
    if (!def || !text || !out) {
        why_set(why, why_len, "missing value");
        return RM_EINVAL;
    }
    while (is_space((unsigned char)*text))
        text++;
    size_t n = strlen(text);
    while (n > 0 && is_space((unsigned char)text[n - 1]))
        n--;
    if (n == 0) {
        why_set(why, why_len, "empty value");
        return RM_EINVAL;
    }
    if (n >= sizeof buf) {
        why_set(why, why_len, "value too long");
        return RM_EINVAL;
    }
    memcpy(buf, text, n);
    buf[n] = '\0';
    memset(out, 0, sizeof *out);
    rm__knobs_format_range(def, range, sizeof range);

    switch (def->type) {
    case RM_KNOB_INT64:
    case RM_KNOB_BYTES: {
        if (def->type == RM_KNOB_BYTES) {
            rm_status_t st = parse_bytes(buf, &out->i, why, why_len);
            if (st != RM_OK)
                return st;
        } else {
            const char *end;
            if (parse_int_prefix(buf, &out->i, &end) != 0 || *end) {
                why_set(why, why_len, "not an integer");
                return RM_EINVAL;
            }
        }
        if (out->i < def->min_i || out->i > def->max_i) {
            why_set(why, why_len, "out of range %s", range);
            return RM_EINVAL;
        }
        break;
    }
    case RM_KNOB_DOUBLE: {
        char *end;
        errno = 0;
        double d = strtod(buf, &end);
        if (end == buf || errno == ERANGE || !isfinite(d)) {
            why_set(why, why_len, "not a number");
            return RM_EINVAL;
        }
        if (*end == '%') {
            d /= 100.0;
            end++;
        }
        if (*end) {
            why_set(why, why_len, "not a number");
            return RM_EINVAL;
        }
        if (d < def->min_d || d > def->max_d) {
            why_set(why, why_len, "out of range %s", range);
            return RM_EINVAL;
        }
        out->d = d;
        break;
    }
    case RM_KNOB_BOOL: {
        static const char *const t[] = {"true", "on", "yes", "1"};
        static const char *const f[] = {"false", "off", "no", "0"};
        for (size_t i = 0; i < 4; i++) {
            if (streq_ci(buf, t[i])) {
                out->b = true;
                goto checked;
            }
            if (streq_ci(buf, f[i])) {
                out->b = false;
                goto checked;
            }
        }
        why_set(why, why_len, "must be true or false");
        return RM_EINVAL;
    }
    case RM_KNOB_ENUM: {
        char names[RM_KNOB_TEXT_MAX] = "";
        size_t used = 0;
        for (int i = 0; def->enum_names[i]; i++) {
            if (streq_ci(buf, def->enum_names[i])) {
                out->e = i;
                goto checked;
            }
            if (used < sizeof names)
                used += (size_t)snprintf(names + used, sizeof names - used, "%s%s",
                                         i ? ", " : "", def->enum_names[i]);
        }
        why_set(why, why_len, "must be one of %s", names);
        return RM_EINVAL;
    }
    case RM_KNOB_INT_LIST: {
        const char *p = buf;
        for (;;) {
            int64_t v;
            const char *end;
            while (is_space((unsigned char)*p))
                p++;
            if (parse_int_prefix(p, &v, &end) != 0) {
                why_set(why, why_len, "not a comma-separated list of integers");
                return RM_EINVAL;
            }
            if (out->list.n == RM_KNOB_LIST_MAX) {
                why_set(why, why_len, "more than %d entries", RM_KNOB_LIST_MAX);
                return RM_EINVAL;
            }
            if (v < def->min_i || v > def->max_i) {
                why_set(why, why_len, "entry %" PRId64 " out of range %s", v, range);
                return RM_EINVAL;
            }
            out->list.v[out->list.n++] = v;
            p = end;
            while (is_space((unsigned char)*p))
                p++;
            if (*p == '\0')
                break;
            if (*p != ',') {
                why_set(why, why_len, "not a comma-separated list of integers");
                return RM_EINVAL;
            }
            p++;
        }
        break;
    }
    }
checked:
    if (def->check) {
        char reason[128];
        if (!def->check(out, reason, sizeof reason)) {
            why_set(why, why_len, "%s", reason);
            return RM_EINVAL;
        }
    }
    return RM_OK;
}

size_t
rm_knobs_format(const rm_knob_def_t *def, const rm_knob_value_t *v, char *buf, size_t len)
{
    if (!buf || len == 0)
        return 0;
    buf[0] = '\0';
    switch (def->type) {
    case RM_KNOB_INT64:
        snprintf(buf, len, "%" PRId64, v->i);
        break;
    case RM_KNOB_BYTES:
        format_bytes(v->i, buf, len);
        break;
    case RM_KNOB_DOUBLE:
        format_double(v->d, buf, len);
        break;
    case RM_KNOB_BOOL:
        snprintf(buf, len, "%s", v->b ? "true" : "false");
        break;
    case RM_KNOB_ENUM:
        snprintf(buf, len, "%s", def->enum_names[v->e]);
        break;
    case RM_KNOB_INT_LIST: {
        size_t used = 0;
        for (int64_t i = 0; i < v->list.n && used < len; i++)
            used += (size_t)snprintf(buf + used, len - used, "%s%" PRId64, i ? "," : "",
                                     v->list.v[i]);
        break;
    }
    }
    return strlen(buf);
}

bool
rm_knobs_value_equal(const rm_knob_def_t *def, const rm_knob_value_t *a, const rm_knob_value_t *b)
{
    switch (def->type) {
    case RM_KNOB_INT64:
    case RM_KNOB_BYTES:
        return a->i == b->i;
    case RM_KNOB_DOUBLE:
        return a->d == b->d;
    case RM_KNOB_BOOL:
        return a->b == b->b;
    case RM_KNOB_ENUM:
        return a->e == b->e;
    case RM_KNOB_INT_LIST:
        if (a->list.n != b->list.n)
            return false;
        for (int64_t i = 0; i < a->list.n; i++)
            if (a->list.v[i] != b->list.v[i])
                return false;
        return true;
    }
    return false;
}

/* ---- instances ---------------------------------------------------------- */

rm_status_t
rm_knobs_create(rm_knobs_t **out)
{
    rm_knobs_t *k = calloc(1, sizeof *k);
    if (!k)
        return RM_ENOMEM;
    if (pthread_mutex_init(&k->mu, NULL) != 0)
        goto fail_mu;
    if (pthread_mutex_init(&k->qmu, NULL) != 0)
        goto fail_qmu;
    if (pthread_cond_init(&k->qcv, NULL) != 0)
        goto fail_qcv;
    for (size_t i = 0; i < NK; i++) {
        k->running[i] = rm__knob_defs[i].def;
        k->configured[i] = rm__knob_defs[i].def;
    }
    *out = k;
    return RM_OK;

fail_qcv:
    pthread_mutex_destroy(&k->qmu);
fail_qmu:
    pthread_mutex_destroy(&k->mu);
fail_mu:
    free(k);
    return RM_ENOMEM;
}

void
rm_knobs_destroy(rm_knobs_t *k)
{
    if (!k)
        return;
    rm_knobs_sub_t *s = k->subs;
    while (s) {
        rm_knobs_sub_t *next = s->next;
        free(s->prefix);
        free(s);
        s = next;
    }
    for (apply_job_t *j = k->q_head; j;) {
        apply_job_t *next = j->next;
        free(j);
        j = next;
    }
    pthread_cond_destroy(&k->qcv);
    pthread_mutex_destroy(&k->qmu);
    pthread_mutex_destroy(&k->mu);
    free(k);
}

void
rm_knobs_mark_started(rm_knobs_t *k)
{
    pthread_mutex_lock(&k->mu);
    k->started = true;
    pthread_mutex_unlock(&k->mu);
}

/* ---- readers ------------------------------------------------------------ */

static inline void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* The running value of a one-word knob (every type but RM_KNOB_INT_LIST) whose
 * type is t or also; only words[0] of the result is set. */
static inline rm_knob_value_t
load_word0(const rm_knobs_t *k, rm_knob_id_t id, rm_knob_type_t t, rm_knob_type_t also)
{
    assert((unsigned)id < NK && (rm__knob_defs[id].type == t || rm__knob_defs[id].type == also));
    (void)t, (void)also; /* read only by the assertion */
    rm_knob_value_t v;
    v.words[0] = __atomic_load_n(&k->running[id].words[0], __ATOMIC_ACQUIRE);
    return v;
}

/* The typed readers of knobs.h: each one word of the running value. */
#define KNOB_GETTER(RET, FN, FIELD, T, ALSO)                                                  \
    RET FN(const rm_knobs_t *k, rm_knob_id_t id)                                              \
    {                                                                                          \
        return load_word0(k, id, T, ALSO).FIELD;                                               \
    }

KNOB_GETTER(int64_t, rm_knobs_get_i64, i, RM_KNOB_INT64, RM_KNOB_BYTES)
KNOB_GETTER(double, rm_knobs_get_double, d, RM_KNOB_DOUBLE, RM_KNOB_DOUBLE)
KNOB_GETTER(bool, rm_knobs_get_bool, b, RM_KNOB_BOOL, RM_KNOB_BOOL)
KNOB_GETTER(int, rm_knobs_get_enum, e, RM_KNOB_ENUM, RM_KNOB_ENUM)

void
rm_knobs_read(const rm_knobs_t *k, const rm_knob_id_t *ids, size_t n, rm_knob_value_t *out)
{
    for (;;) {
        uint64_t s1 = __atomic_load_n(&k->seq, __ATOMIC_ACQUIRE);
        if (s1 & 1) {
            cpu_relax();
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            assert((unsigned)ids[i] < NK);
            for (size_t w = 0; w < VALUE_WORDS; w++)
                out[i].words[w] = __atomic_load_n(&k->running[ids[i]].words[w], __ATOMIC_ACQUIRE);
        }
        if (__atomic_load_n(&k->seq, __ATOMIC_ACQUIRE) == s1)
            return;
    }
}

size_t
rm_knobs_get_list(const rm_knobs_t *k, rm_knob_id_t id, int64_t *out, size_t cap)
{
    assert((unsigned)id < NK && rm__knob_defs[id].type == RM_KNOB_INT_LIST);
    rm_knob_value_t v;
    rm_knobs_read(k, &id, 1, &v);
    for (int64_t i = 0; i < v.list.n && (size_t)i < cap; i++)
        out[i] = v.list.v[i];
    return (size_t)v.list.n;
}

uint64_t
rm_knobs_generation(const rm_knobs_t *k)
{
    return __atomic_load_n(&k->generation, __ATOMIC_ACQUIRE);
}

rm_status_t
rm_knobs_get_text(rm_knobs_t *k, const char *name, char *value, size_t value_len,
                  char *configured, size_t configured_len, bool *pending)
{
    rm_knob_id_t id;
    if (rm_knobs_lookup(name, &id) != RM_OK)
        return RM_ENOENT;
    const rm_knob_def_t *def = &rm__knob_defs[id];
    rm_knob_value_t run, conf;
    pthread_mutex_lock(&k->mu);
    run = k->running[id];
    conf = k->configured[id];
    pthread_mutex_unlock(&k->mu);
    if (value)
        rm_knobs_format(def, &run, value, value_len);
    if (configured)
        rm_knobs_format(def, &conf, configured, configured_len);
    if (pending)
        *pending = !rm_knobs_value_equal(def, &run, &conf);
    return RM_OK;
}

bool
rm_knobs_pending_restart(rm_knobs_t *k, rm_knob_id_t id)
{
    if ((unsigned)id >= NK)
        return false;
    return RM_LOCKED_READ(&k->mu,
                          !rm_knobs_value_equal(&rm__knob_defs[id], &k->running[id], &k->configured[id]));
}

/* ---- INI text ----------------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t len, cap; /* bytes */
    int oom;
} sbuf_t;

static void sb_printf(sbuf_t *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
sb_printf(sbuf_t *sb, const char *fmt, ...)
{
    if (sb->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(sb->p ? sb->p + sb->len : NULL, sb->p ? sb->cap - sb->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            sb->oom = 1;
            return;
        }
        if (sb->p && sb->len + (size_t)n < sb->cap) {
            sb->len += (size_t)n;
            return;
        }
        size_t cap = sb->cap ? sb->cap : 1024;
        while (cap <= sb->len + (size_t)n)
            cap *= 2;
        char *np = realloc(sb->p, cap);
        if (!np) {
            sb->oom = 1;
            return;
        }
        sb->p = np;
        sb->cap = cap;
    }
}

/* Format the knobs with include[i] from vals[] as INI into *out. */
static rm_status_t
format_ini_values(const rm_knob_value_t *vals, const bool *include, rm_knobs_ini_mode_t mode,
                  char **out, size_t *len)
{
    sbuf_t sb = {0};
    static const char *const headers[] = {
        [RM_KNOBS_INI_PERSISTED] = ("runtime changes persisted by rustymemd (SetKnobs, "
                                    "ApplyProfile); read at start after the config file"),
        [RM_KNOBS_INI_NONDEFAULT] = "configured values that differ from the defaults",
        [RM_KNOBS_INI_ALL] = "every knob with its configured value",
    };
    sb_printf(&sb, "# rustymem knobs: %s\n", headers[mode]);
    const char *section = NULL;
    size_t section_len = 0;
    for (size_t i = 0; i < NK; i++) {
        if (!include[i])
            continue;
        const rm_knob_def_t *def = &rm__knob_defs[i];
        const char *dot = strchr(def->name, '.');
        size_t slen = (size_t)(dot - def->name);
        if (!section || slen != section_len || memcmp(section, def->name, slen) != 0) {
            sb_printf(&sb, "\n[%.*s]\n", (int)slen, def->name);
            section = def->name;
            section_len = slen;
        }
        char text[RM_KNOB_TEXT_MAX];
        rm_knobs_format(def, &vals[i], text, sizeof text);
        if (mode == RM_KNOBS_INI_ALL) {
            char range[2 * RM_KNOB_TEXT_MAX + 8] = "";
            if (def->type != RM_KNOB_BOOL && def->type != RM_KNOB_ENUM)
                rm__knobs_format_range(def, range, sizeof range);
            sb_printf(&sb, "# %s (%s%s%s%s%s)\n", def->description, def->unit,
                      *def->unit ? "; " : "", range, *range ? "; " : "", rm__knob_context(def));
        }
        sb_printf(&sb, "%s = %s\n", dot + 1, text);
    }
    if (sb.oom || !sb.p) {
        free(sb.p);
        return RM_ENOMEM;
    }
    *out = sb.p;
    if (len)
        *len = sb.len;
    return RM_OK;
}

rm_status_t
rm_knobs_format_ini(rm_knobs_t *k, rm_knobs_ini_mode_t mode, char **out, size_t *len)
{
    bool include[NK];
    rm_knob_value_t vals[NK];
    if ((unsigned)mode > RM_KNOBS_INI_ALL)
        return RM_EINVAL;
    pthread_mutex_lock(&k->mu);
    for (size_t i = 0; i < NK; i++) {
        const rm_knob_def_t *def = &rm__knob_defs[i];
        switch (mode) {
        case RM_KNOBS_INI_PERSISTED:
            include[i] = k->is_persisted[i];
            vals[i] = k->persisted[i];
            break;
        case RM_KNOBS_INI_NONDEFAULT:
            include[i] = !rm_knobs_value_equal(def, &k->configured[i], &def->def);
            vals[i] = k->configured[i];
            break;
        default:
            include[i] = true;
            vals[i] = k->configured[i];
            break;
        }
    }
    pthread_mutex_unlock(&k->mu);
    return format_ini_values(vals, include, mode, out, len);
}

rm_status_t
rm_knobs_write_ini(rm_knobs_t *k, rm_knobs_ini_mode_t mode, FILE *f)
{
    char *text;
    size_t len;
    rm_status_t st = rm_knobs_format_ini(k, mode, &text, &len);
    if (st != RM_OK)
        return st;
    st = fwrite(text, 1, len, f) == len ? RM_OK : RM_EIO;
    free(text);
    return st;
}

/* ---- writers ------------------------------------------------------------ */

/* Install one persister kind; the other is cleared (at most one is set). */
static void
set_persister(rm_knobs_t *k, rm_knobs_persist_fn fn, rm_knobs_persist_async_fn afn, void *ctx)
{
    pthread_mutex_lock(&k->mu);
    k->persist = fn;
    k->persist_async = afn;
    k->persist_ctx = ctx;
    pthread_mutex_unlock(&k->mu);
}

void
rm_knobs_set_persister(rm_knobs_t *k, rm_knobs_persist_fn fn, void *ctx)
{
    set_persister(k, fn, NULL, ctx);
}

void
rm_knobs_set_persister_async(rm_knobs_t *k, rm_knobs_persist_async_fn fn, void *ctx)
{
    set_persister(k, NULL, fn, ctx);
}

void
rm_knobs_persist_done(rm_knobs_t *k, uint64_t gen, rm_status_t st, const char *why)
{
    if (!k)
        return;
    pthread_mutex_lock(&k->qmu);
    if (st == RM_OK) {
        if (gen > k->durable_gen)
            k->durable_gen = gen;
        if (gen >= k->failed_gen) {
            k->persist_status = RM_OK;
            k->persist_error[0] = '\0';
        }
    } else if (gen >= k->failed_gen) {
        k->failed_gen = gen;
        k->persist_status = st;
        snprintf(k->persist_error, sizeof k->persist_error, "%s",
                 why && *why ? why : rm_strerror(st));
    }
    pthread_cond_broadcast(&k->qcv);
    pthread_mutex_unlock(&k->qmu);
}

void
rm_knobs_persist_state(rm_knobs_t *k, rm_knobs_persist_state_t *out)
{
    memset(out, 0, sizeof *out);
    if (!k)
        return;
    out->generation = __atomic_load_n(&k->persist_gen, __ATOMIC_ACQUIRE);
    pthread_mutex_lock(&k->qmu);
    out->durable = k->durable_gen;
    out->failed = k->failed_gen > k->durable_gen ? k->failed_gen : 0;
    out->status = out->failed ? k->persist_status : RM_OK;
    snprintf(out->error, sizeof out->error, "%s", out->failed ? k->persist_error : "");
    pthread_mutex_unlock(&k->qmu);
}

rm_status_t
rm_knobs_wait_persisted(rm_knobs_t *k, uint64_t gen, uint32_t timeout_ms, char *why, size_t why_len)
{
    if (!k)
        return RM_EINVAL;
    if (why && why_len)
        why[0] = '\0';
    struct timespec dl = rm__deadline_after_ns(CLOCK_REALTIME, (uint64_t)timeout_ms * 1000000ull);
    rm_status_t st = RM_OK;
    pthread_mutex_lock(&k->qmu);
    for (;;) {
        if (k->durable_gen >= gen)
            break;
        if (k->failed_gen >= gen) { /* the write holding gen (or a later one) failed */
            st = k->persist_status;
            if (why && why_len)
                snprintf(why, why_len, "%s", k->persist_error);
            break;
        }
        if (pthread_cond_timedwait(&k->qcv, &k->qmu, &dl) == ETIMEDOUT &&
            k->durable_gen < gen && k->failed_gen < gen) {
            st = RM_ETIMEDOUT;
            break;
        }
    }
    pthread_mutex_unlock(&k->qmu);
    return st;
}

static double
num_of(rm_knob_id_t id, const rm_knob_value_t *v)
{
    return rm__knob_defs[id].type == RM_KNOB_DOUBLE ? v->d : (double)v->i;
}

/* Pick the knob to blame for a violated constraint: the first of ids[] that
 * the set assigned, else ids[0]. */
static rm_knob_id_t
blame(const rm_knobs_t *k, const rm_knob_id_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (k->w_index[ids[i]] != SIZE_MAX)
            return ids[i];
    return ids[0];
}

/* Check every constraint on vals[]; describe the first violation. */
static rm_status_t
check_constraints_locked(rm_knobs_t *k, const rm_knob_value_t *vals, const char *state,
                         rm_knob_error_t *err)
{
    RM_ASSERT_LOCKED(&k->mu);
    for (size_t ci = 0; ci < rm__knob_constraint_count; ci++) {
        const rm__knob_constraint_t *c = &rm__knob_constraints[ci];
        char ta[RM_KNOB_TEXT_MAX], tb[RM_KNOB_TEXT_MAX], tc[RM_KNOB_TEXT_MAX];
        rm_knobs_format(&rm__knob_defs[c->a], &vals[c->a], ta, sizeof ta);
        rm_knobs_format(&rm__knob_defs[c->b], &vals[c->b], tb, sizeof tb);
        const char *na = rm__knob_defs[c->a].name, *nb = rm__knob_defs[c->b].name;
        double a = num_of(c->a, &vals[c->a]), b = num_of(c->b, &vals[c->b]);
        if (c->rel == RM__REL_LT || c->rel == RM__REL_LE) {
            int ok = c->rel == RM__REL_LT ? a < b : a <= b;
            if (ok)
                continue;
            rm_knob_id_t ids[2] = {c->a, c->b};
            rm_knob_id_t who = blame(k, ids, 2);
            const char *op = c->rel == RM__REL_LT ? (who == c->a ? "<" : ">")
                                                  : (who == c->a ? "<=" : ">=");
            if (who == c->a)
                err_set(err, RM_EINVAL, k->w_index[who], na, "%s = %s: must be %s %s (%s)%s", na,
                        ta, op, nb, tb, state);
            else
                err_set(err, RM_EINVAL, k->w_index[who], nb, "%s = %s: must be %s %s (%s)%s", nb,
                        tb, op, na, ta, state);
            return RM_EINVAL;
        }
        /* RM__REL_FRAMES_FIT */
        int64_t frames = vals[c->a].i, page = vals[c->b].i, budget = vals[c->c].i, need;
        if (frames == 0 || budget == 0)
            continue;
        if (!__builtin_mul_overflow(frames, page, &need) && need <= budget)
            continue;
        rm_knob_id_t ids[3] = {c->a, c->c, c->b};
        rm_knob_id_t who = blame(k, ids, 3);
        char tw[RM_KNOB_TEXT_MAX];
        rm_knobs_format(&rm__knob_defs[who], &vals[who], tw, sizeof tw);
        rm_knobs_format(&rm__knob_defs[c->c], &vals[c->c], tc, sizeof tc);
        err_set(err, RM_EINVAL, k->w_index[who], rm__knob_defs[who].name,
                "%s = %s: %s (%s) x %s (%s) must fit in %s (%s)%s", rm__knob_defs[who].name, tw,
                na, ta, nb, tb, rm__knob_defs[c->c].name, tc, state);
        return RM_EINVAL;
    }
    return RM_OK;
}

static int
prefix_match(const rm_knobs_sub_t *s, const char *name)
{
    return strncmp(name, s->prefix, s->prefix_len) == 0;
}

/* Subscriber s's subset of changes[0..n) into k->w_sub_changes; count. */
static size_t
sub_changes_locked(rm_knobs_t *k, const rm_knobs_sub_t *s, size_t n)
{
    RM_ASSERT_LOCKED(&k->mu);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (prefix_match(s, k->w_changes[i].def->name))
            k->w_sub_changes[m++] = k->w_changes[i];
    return m;
}

static void
free_jobs(apply_job_t *j)
{
    while (j) {
        apply_job_t *next = j->next;
        free(j);
        j = next;
    }
}

/*
 * Queue `jobs` (one commit's, in subscription order) behind the earlier
 * commits', superseding queued entries of the same knob for the same
 * subscriber. Requires qmu.
 */
static void
enqueue_jobs_qlocked(rm_knobs_t *k, apply_job_t *jobs)
{
    RM_ASSERT_LOCKED(&k->qmu);
    while (jobs) {
        apply_job_t *j = jobs;
        jobs = j->next;
        j->next = NULL;
        for (apply_job_t **qp = &k->q_head; *qp;) {
            apply_job_t *q = *qp;
            if (q->sub == j->sub) {
                for (size_t c = 0; c < j->n; c++)
                    for (size_t e = 0; e < q->n; e++)
                        if (q->changes[e].id == j->changes[c].id) {
                            /* the earlier target was never applied: go from what was */
                            j->changes[c].old_value = q->changes[e].old_value;
                            k->q_pending[q->changes[e].id]--;
                            memmove(&q->changes[e], &q->changes[e + 1], (q->n - e - 1) * sizeof q->changes[0]);
                            q->n--;
                            break;
                        }
                if (q->n == 0) {
                    *qp = q->next;
                    free(q);
                    continue;
                }
            }
            qp = &q->next;
        }
        k->q_tail = NULL;
        for (apply_job_t *q = k->q_head; q; q = q->next)
            k->q_tail = q;
        if (k->q_tail)
            k->q_tail->next = j;
        else
            k->q_head = j;
        k->q_tail = j;
        for (size_t c = 0; c < j->n; c++)
            k->q_pending[j->changes[c].id]++;
    }
}

/* Run queued jobs until the queue is empty; the caller set k->draining. */
static void
drain_jobs(rm_knobs_t *k)
{
    pthread_mutex_lock(&k->qmu);
    while (k->q_head) {
        apply_job_t *j = k->q_head;
        k->q_head = j->next;
        if (!k->q_head)
            k->q_tail = NULL;
        k->q_running = j;
        pthread_mutex_unlock(&k->qmu);
        j->sub->apply(j->sub->ctx, j->changes, j->n);
        pthread_mutex_lock(&k->qmu);
        for (size_t c = 0; c < j->n; c++)
            k->q_pending[j->changes[c].id]--;
        k->q_running = NULL;
        free(j);
        pthread_cond_broadcast(&k->qcv);
    }
    k->draining = false;
    pthread_cond_broadcast(&k->qcv);
    pthread_mutex_unlock(&k->qmu);
}

/* Scratch bookkeeping of one assignment: a runtime set records the value as
 * persisted and its source as runtime; a reset forgets both; a boot layer
 * (RM_KNOBS_NO_PERSIST) leaves them to rm_knobs_set_base. */
static void
mark_origin_locked(rm_knobs_t *k, rm_knob_id_t id, const rm_knob_value_t *v, unsigned flags)
{
    RM_ASSERT_LOCKED(&k->mu);
    if (flags & RM__KNOBS_RESET) {
        k->w_is_pers[id] = false;
        k->w_origin[id] = ORIGIN_BASE;
    } else if (!(flags & RM_KNOBS_NO_PERSIST)) {
        k->w_pers[id] = *v;
        k->w_is_pers[id] = true;
        k->w_origin[id] = (k->persist || k->persist_async) ? ORIGIN_RUNTIME_PERSISTED
                                                            : ORIGIN_RUNTIME_MEMORY;
    }
}

/* Assignment i (name = value) of a batch: the knob must exist, be the first
 * assignment to it in the batch (seen[], set here on success) and not be
 * refused by the caller (refused: its reason, or NULL); the value is parsed
 * into vals[*id]. RM_OK, or RM_ENOENT / RM_EINVAL with err set. */
static rm_status_t
parse_assignment(size_t i, const char *name, const char *value, const char *refused, bool *seen,
                 rm_knob_value_t *vals, rm_knob_id_t *id, rm_knob_error_t *err)
{
    char why[160];
    if (rm_knobs_lookup(name, id) != RM_OK) {
        err_set(err, RM_ENOENT, i, name, "%s: unknown knob", name ? name : "");
        return RM_ENOENT;
    }
    const rm_knob_def_t *def = &rm__knob_defs[*id];
    if (seen[*id] || refused) {
        err_set(err, RM_EINVAL, i, def->name, "%s: %s", def->name,
                seen[*id] ? "assigned more than once" : refused);
        return RM_EINVAL;
    }
    if (rm_knobs_parse(def, value, &vals[*id], why, sizeof why) != RM_OK) {
        err_set(err, RM_EINVAL, i, def->name, "%s = %s: %s", def->name, value ? value : "", why);
        return RM_EINVAL;
    }
    seen[*id] = true;
    return RM_OK;
}

static rm_status_t
set_locked(rm_knobs_t *k, const rm_knob_assign_t *a, size_t n, unsigned flags,
           rm_knob_error_t *err, apply_job_t **jobs_out)
{
    RM_ASSERT_LOCKED(&k->mu);
    rm_status_t st;
    char why[160];
    if (n == 0 || !a) {
        err_set(err, RM_EINVAL, SIZE_MAX, "", "no knob to set");
        return RM_EINVAL;
    }
    memcpy(k->w_conf, k->configured, sizeof k->w_conf);
    memcpy(k->w_run, k->running, sizeof k->w_run);
    memcpy(k->w_pers, k->persisted, sizeof k->w_pers);
    memcpy(k->w_is_pers, k->is_persisted, sizeof k->w_is_pers);
    memcpy(k->w_origin, k->origin, sizeof k->w_origin);
    for (size_t i = 0; i < NK; i++)
        k->w_index[i] = SIZE_MAX;

    /* 1. parse and range-check every assignment */
    bool seen[NK] = {false};
    for (size_t i = 0; i < n; i++) {
        rm_knob_id_t id;
        st = parse_assignment(i, a[i].name, a[i].value, NULL, seen, k->w_conf, &id, err);
        if (st != RM_OK)
            return st;
        k->w_index[id] = i;
        if (!rm__knob_defs[id].restart || !k->started)
            k->w_run[id] = k->w_conf[id];
        mark_origin_locked(k, id, &k->w_conf[id], flags);
    }

    /* 2. cross-knob constraints on both would-be states */
    st = check_constraints_locked(k, k->w_conf, "", err);
    if (st == RM_OK)
        st = check_constraints_locked(k, k->w_run, " (with the running values; restart pending)",
                                      err);
    if (st != RM_OK)
        return st;

    /* 3. the changes, and the vetoes */
    size_t nc = 0, pending = 0;
    for (size_t i = 0; i < NK; i++) {
        const rm_knob_def_t *def = &rm__knob_defs[i];
        if (k->w_index[i] != SIZE_MAX && def->restart &&
            !rm_knobs_value_equal(def, &k->w_conf[i], &k->w_run[i]))
            pending++;
        if (rm_knobs_value_equal(def, &k->w_conf[i], &k->configured[i]) &&
            rm_knobs_value_equal(def, &k->w_run[i], &k->running[i]))
            continue;
        k->w_changes[nc].id = (rm_knob_id_t)i;
        k->w_changes[nc].def = def;
        k->w_changes[nc].old_value = k->running[i];
        k->w_changes[nc].new_value = k->w_conf[i];
        nc++;
    }
    for (rm_knobs_sub_t *s = k->subs; s; s = s->next) {
        if (!s->veto)
            continue;
        size_t m = sub_changes_locked(k, s, nc);
        if (m == 0)
            continue;
        why[0] = '\0';
        st = s->veto(s->ctx, k->w_sub_changes, m, why, sizeof why);
        if (st != RM_OK) {
            const rm_knob_change_t *c = &k->w_sub_changes[0];
            char text[RM_KNOB_TEXT_MAX];
            rm_knobs_format(c->def, &c->new_value, text, sizeof text);
            err_set(err, st < 0 ? st : RM_EINVAL, k->w_index[c->id], c->def->name,
                    "%s = %s: %s", c->def->name, text, why[0] ? why : "rejected by a subscriber");
            return st < 0 ? st : RM_EINVAL;
        }
    }
    if (flags & RM_KNOBS_VALIDATE_ONLY) {
        err_ok(err, pending);
        return RM_OK;
    }

    /* 3b. the apply jobs: running values that will move, per subscriber.
     * Allocated now so that nothing after the commit can fail. old_value is
     * the pre-commit running value. */
    apply_job_t *jobs = NULL, **jt = &jobs;
    for (rm_knobs_sub_t *s = k->subs; s; s = s->next) {
        if (!s->apply)
            continue;
        size_t m = 0;
        for (size_t i = 0; i < nc; i++) {
            const rm_knob_change_t *c = &k->w_changes[i];
            if (!prefix_match(s, c->def->name) ||
                rm_knobs_value_equal(c->def, &c->old_value, &k->w_run[c->id]))
                continue;
            k->w_sub_changes[m] = *c;
            k->w_sub_changes[m].new_value = k->w_run[c->id];
            m++;
        }
        if (!m)
            continue;
        apply_job_t *j = malloc(offsetof(apply_job_t, changes) + m * sizeof j->changes[0]);
        if (!j) {
            free_jobs(jobs);
            err_set(err, RM_ENOMEM, SIZE_MAX, "", "out of memory queueing the change");
            return RM_ENOMEM;
        }
        j->next = NULL;
        j->sub = s;
        j->n = m;
        memcpy(j->changes, k->w_sub_changes, m * sizeof j->changes[0]);
        *jt = j;
        jt = &j->next;
    }

    /* 4. persist the would-be persisted set when it changes */
    int pers_changed = 0;
    for (size_t i = 0; i < NK && !pers_changed; i++)
        pers_changed = k->w_is_pers[i] != k->is_persisted[i] ||
                       (k->w_is_pers[i] &&
                        !rm_knobs_value_equal(&rm__knob_defs[i], &k->w_pers[i], &k->persisted[i]));
    bool persisting = (k->persist || k->persist_async) && !(flags & RM_KNOBS_NO_PERSIST);
    uint64_t pgen = k->persist_gen;
    if (pers_changed && persisting) {
        char *text;
        size_t len;
        st = format_ini_values(k->w_pers, k->w_is_pers, RM_KNOBS_INI_PERSISTED, &text, &len);
        if (st != RM_OK) {
            free_jobs(jobs);
            err_set(err, st, SIZE_MAX, "", "cannot format the persisted knobs: %s",
                    rm_strerror(st));
            return st;
        }
        why[0] = '\0';
        pgen++;
        if (k->persist_async)
            st = k->persist_async(k->persist_ctx, pgen, text, len, why, sizeof why);
        else
            st = k->persist(k->persist_ctx, text, len, why, sizeof why);
        free(text);
        if (st != RM_OK) {
            free_jobs(jobs);
            st = st < 0 ? st : RM_EIO;
            err_set(err, st, SIZE_MAX, "", "cannot persist the knobs: %s",
                    why[0] ? why : rm_strerror(st));
            return st;
        }
        __atomic_store_n(&k->persist_gen, pgen, __ATOMIC_RELEASE);
        if (k->persist) /* synchronous: on disk already */
            rm_knobs_persist_done(k, pgen, RM_OK, NULL);
    }

    /* 5. commit: nothing below can fail */
    memcpy(k->configured, k->w_conf, sizeof k->configured);
    memcpy(k->persisted, k->w_pers, sizeof k->persisted);
    memcpy(k->is_persisted, k->w_is_pers, sizeof k->is_persisted);
    memcpy(k->origin, k->w_origin, sizeof k->origin);
    uint64_t seq = k->seq;
    __atomic_store_n(&k->seq, seq + 1, __ATOMIC_RELAXED);
    for (size_t c = 0; c < nc; c++) {
        rm_knob_id_t id = k->w_changes[c].id;
        for (size_t w = 0; w < VALUE_WORDS; w++)
            if (k->running[id].words[w] != k->w_run[id].words[w])
                __atomic_store_n(&k->running[id].words[w], k->w_run[id].words[w],
                                 __ATOMIC_RELEASE);
    }
    __atomic_store_n(&k->seq, seq + 2, __ATOMIC_RELEASE);
    __atomic_store_n(&k->generation, k->generation + 1, __ATOMIC_RELEASE);

    /* 6. the apply callbacks run after mu is released (rm_knobs_set_ex) */
    *jobs_out = jobs;
    err_ok(err, pending);
    if (err && persisting)
        err->persist_gen = pgen; /* the generation holding this set's persisted values */
    return RM_OK;
}

rm_status_t
rm_knobs_set_ex(rm_knobs_t *k, const rm_knob_assign_t *a, size_t n, unsigned flags,
                rm_knob_error_t *err)
{
    apply_job_t *jobs = NULL;
    pthread_mutex_lock(&k->mu);
    rm_status_t st = set_locked(k, a, n, flags, err, &jobs);
    bool drain = false, mine[NK] = {false};
    for (apply_job_t *j = jobs; j; j = j->next)
        for (size_t c = 0; c < j->n; c++)
            mine[j->changes[c].id] = true;
    if (jobs) {
        /* queued under mu, so the queue is in commit order */
        pthread_mutex_lock(&k->qmu);
        enqueue_jobs_qlocked(k, jobs);
        if (!k->draining)
            drain = k->draining = true;
        pthread_mutex_unlock(&k->qmu);
    }
    pthread_mutex_unlock(&k->mu);
    if (drain)
        drain_jobs(k);   /* ours and any queued behind it; outside every lock */
    if (st == RM_OK && err) {
        /* how many of this set's changed knobs are still applying (behind an
         * apply another thread runs, or queued behind ours by another set) */
        size_t applying = 0;
        pthread_mutex_lock(&k->qmu);
        for (size_t i = 0; i < NK; i++)
            if (mine[i] && k->q_pending[i])
                applying++;
        pthread_mutex_unlock(&k->qmu);
        err->applying = applying;
    }
    return st;
}

bool
rm_knobs_applying(rm_knobs_t *k, rm_knob_id_t id)
{
    if (!k || (size_t)id >= NK)
        return false;
    return RM_LOCKED_READ(&k->qmu, k->q_pending[id] != 0);
}

rm_status_t
rm_knobs_wait_applied(rm_knobs_t *k, uint32_t timeout_ms)
{
    if (!k)
        return RM_EINVAL;
    struct timespec dl = rm__deadline_after_ns(CLOCK_REALTIME, (uint64_t)timeout_ms * 1000000ull);
    rm_status_t st = RM_OK;
    pthread_mutex_lock(&k->qmu);
    while (k->q_head || k->q_running || k->draining)
        if (pthread_cond_timedwait(&k->qcv, &k->qmu, &dl) == ETIMEDOUT) {
            st = (k->q_head || k->q_running || k->draining) ? RM_ETIMEDOUT : RM_OK;
            break;
        }
    pthread_mutex_unlock(&k->qmu);
    return st;
}

rm_status_t
rm_knobs_set(rm_knobs_t *k, const rm_knob_assign_t *a, size_t n, int validate_only,
             rm_knob_error_t *err)
{
    return rm_knobs_set_ex(k, a, n, validate_only ? RM_KNOBS_VALIDATE_ONLY : 0, err);
}

rm_status_t
rm_knobs_load_persisted(rm_knobs_t *k, const rm_knob_assign_t *a, size_t n,
                        rm_knob_error_t *err)
{
    rm_knob_value_t vals[NK];
    bool seen[NK] = {false};
    for (size_t i = 0; i < n; i++) {
        rm_knob_id_t id;
        rm_status_t st = parse_assignment(i, a[i].name, a[i].value, NULL, seen, vals, &id, err);
        if (st != RM_OK)
            return st;
    }
    pthread_mutex_lock(&k->mu);
    for (size_t i = 0; i < NK; i++)
        if (seen[i]) {
            k->persisted[i] = vals[i];
            k->is_persisted[i] = true;
        }
    pthread_mutex_unlock(&k->mu);
    err_ok(err, 0);
    return RM_OK;
}

rm_status_t
rm_knobs_forget_persisted(rm_knobs_t *k, const char *name)
{
    rm_knob_id_t id;
    if (!k || rm_knobs_lookup(name, &id) != RM_OK)
        return RM_ENOENT;
    pthread_mutex_lock(&k->mu);
    k->is_persisted[id] = false;
    pthread_mutex_unlock(&k->mu);
    return RM_OK;
}

/* ---- subscribers -------------------------------------------------------- */

rm_status_t
rm_knobs_subscribe(rm_knobs_t *k, const char *prefix, rm_knobs_veto_fn veto,
                   rm_knobs_apply_fn apply, void *ctx, rm_knobs_sub_t **out)
{
    if (!prefix || (!veto && !apply) || !out)
        return RM_EINVAL;
    rm_knobs_sub_t *s = calloc(1, sizeof *s);
    if (!s)
        return RM_ENOMEM;
    s->prefix = strdup(prefix);
    if (!s->prefix) {
        free(s);
        return RM_ENOMEM;
    }
    s->prefix_len = strlen(prefix);
    s->veto = veto;
    s->apply = apply;
    s->ctx = ctx;
    pthread_mutex_lock(&k->mu);
    /* append: callbacks run in subscription order */
    rm_knobs_sub_t **pp = &k->subs;
    while (*pp)
        pp = &(*pp)->next;
    *pp = s;
    pthread_mutex_unlock(&k->mu);
    *out = s;
    return RM_OK;
}

void
rm_knobs_unsubscribe(rm_knobs_t *k, rm_knobs_sub_t *sub)
{
    if (!sub)
        return;
    pthread_mutex_lock(&k->mu);
    for (rm_knobs_sub_t **pp = &k->subs; *pp; pp = &(*pp)->next)
        if (*pp == sub) {
            *pp = sub->next;
            break;
        }
    /* its queued applies are dropped; a running one is waited for */
    pthread_mutex_lock(&k->qmu);
    for (apply_job_t **qp = &k->q_head; *qp;) {
        apply_job_t *q = *qp;
        if (q->sub != sub) {
            qp = &q->next;
            continue;
        }
        for (size_t c = 0; c < q->n; c++)
            k->q_pending[q->changes[c].id]--;
        *qp = q->next;
        free(q);
    }
    k->q_tail = NULL;
    for (apply_job_t *q = k->q_head; q; q = q->next)
        k->q_tail = q;
    /* no new job can name it (jobs are built under mu from k->subs); wait
     * without mu, so a running callback may still read knobs */
    pthread_mutex_unlock(&k->mu);
    while (k->q_running && k->q_running->sub == sub)
        pthread_cond_wait(&k->qcv, &k->qmu);
    pthread_mutex_unlock(&k->qmu);
    free(sub->prefix);
    free(sub);
}

/* ---- profiles ----------------------------------------------------------- */

rm_status_t
rm_knobs_apply_profile(rm_knobs_t *k, rm_knobs_workload_t w, rm_knobs_environment_t e,
                       int validate_only, rm_knob_error_t *err)
{
    size_t nw, ne;
    const rm_knobs_profile_entry_t *tw = rm_knobs_workload_table(w, &nw);
    const rm_knobs_profile_entry_t *te = rm_knobs_environment_table(e, &ne);
    if (!tw || !te) {
        err_set(err, RM_EINVAL, SIZE_MAX, "", "unknown profile (workload oltp|olap|mixed, "
                                              "environment development|production|mission_critical)");
        return RM_EINVAL;
    }
    rm_knob_assign_t a[NK];
    size_t n = 0;
    for (size_t i = 0; i < ne; i++) {
        int dup = 0;
        for (size_t j = 0; j < nw; j++)
            dup |= tw[j].id == te[i].id;
        if (!dup)
            a[n++] = (rm_knob_assign_t){rm__knob_defs[te[i].id].name, te[i].value};
    }
    for (size_t j = 0; j < nw; j++)
        a[n++] = (rm_knob_assign_t){rm__knob_defs[tw[j].id].name, tw[j].value};
    return rm_knobs_set(k, a, n, validate_only, err);
}

/* ---- sources ------------------------------------------------------------ */

rm_status_t
rm_knobs_set_base(rm_knobs_t *k, const rm_knob_base_t *b, size_t n, rm_knob_error_t *err)
{
    rm_knob_value_t vals[NK];
    bool seen[NK] = {false};
    for (size_t i = 0; i < n; i++) {
        rm_knob_id_t id;
        bool from_source = b[i].source >= RM_KNOB_SRC_FILE && b[i].source <= RM_KNOB_SRC_FLAG;
        rm_status_t st = parse_assignment(i, b[i].name, b[i].value,
                                          from_source ? NULL : "source must be a file, env or flag",
                                          seen, vals, &id, err);
        if (st != RM_OK)
            return st;
    }
    pthread_mutex_lock(&k->mu);
    memset(k->base_src, RM_KNOB_SRC_DEFAULT, sizeof k->base_src);
    for (size_t i = 0; i < n; i++) {
        rm_knob_id_t id;
        if (rm_knobs_lookup(b[i].name, &id) != RM_OK)   /* cannot fail: parse_assignment found it above */
            continue;
        k->base_src[id] = (uint8_t)b[i].source;
        k->base[id] = vals[id];
        snprintf(k->base_where[id], sizeof k->base_where[id], "%s", b[i].where ? b[i].where : "");
    }
    for (size_t i = 0; i < NK; i++) /* the persisted value won where no env/flag beats it */
        k->origin[i] = k->is_persisted[i] && k->base_src[i] <= RM_KNOB_SRC_FILE &&
                               rm_knobs_value_equal(&rm__knob_defs[i], &k->persisted[i],
                                                    &k->configured[i])
                           ? ORIGIN_RUNTIME_PERSISTED
                           : ORIGIN_BASE;
    pthread_mutex_unlock(&k->mu);
    err_ok(err, 0);
    return RM_OK;
}

/* The reset value of knob id (the default where no boot layer named it). */
static const rm_knob_value_t *
base_value_locked(rm_knobs_t *k, size_t id)
{
    RM_ASSERT_LOCKED(&k->mu);
    return k->base_src[id] == RM_KNOB_SRC_DEFAULT ? &rm__knob_defs[id].def : &k->base[id];
}

/* "default", "path:line", "env RUSTYMEM_X" or "flag" for the reset source of id. */
static void
base_text_locked(rm_knobs_t *k, size_t id, char *buf, size_t len)
{
    RM_ASSERT_LOCKED(&k->mu);
    switch (k->base_src[id]) {
    case RM_KNOB_SRC_FILE: snprintf(buf, len, "%s", k->base_where[id]); break;
    case RM_KNOB_SRC_ENV: snprintf(buf, len, "env %s", k->base_where[id]); break;
    case RM_KNOB_SRC_FLAG: snprintf(buf, len, "flag"); break;
    default: snprintf(buf, len, "default"); break;
    }
}

rm_status_t
rm_knobs_get_source(rm_knobs_t *k, const char *name, rm_knob_source_info_t *out)
{
    rm_knob_id_t id;
    if (rm_knobs_lookup(name, &id) != RM_OK)
        return RM_ENOENT;
    const rm_knob_def_t *def = &rm__knob_defs[id];
    pthread_mutex_lock(&k->mu);
    int origin = k->origin[id];
    out->reset_source = (rm_knob_source_t)k->base_src[id];
    base_text_locked(k, id, out->reset_text, sizeof out->reset_text);
    rm_knobs_format(def, base_value_locked(k, id), out->reset_value, sizeof out->reset_value);
    out->pending_restart = !rm_knobs_value_equal(def, &k->running[id], &k->configured[id]);
    pthread_mutex_unlock(&k->mu);
    out->persisted = origin == ORIGIN_RUNTIME_PERSISTED;
    out->source = origin == ORIGIN_BASE ? out->reset_source : RM_KNOB_SRC_RUNTIME;
    if (origin == ORIGIN_BASE)
        snprintf(out->text, sizeof out->text, "%s", out->reset_text);
    else
        snprintf(out->text, sizeof out->text, "runtime (%s)",
                 out->persisted ? "persisted" : "not persisted");
    return RM_OK;
}

rm_status_t
rm_knobs_reset(rm_knobs_t *k, const char *const *names, size_t n, int validate_only,
               rm_knob_error_t *err)
{
    rm_knob_assign_t a[NK];
    char text[NK][RM_KNOB_TEXT_MAX];
    if (n == 0 || !names || n > NK) {
        err_set(err, RM_EINVAL, SIZE_MAX, "", n ? "more knobs than exist" : "no knob to reset");
        return RM_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        rm_knob_id_t id;
        if (rm_knobs_lookup(names[i], &id) != RM_OK) {
            err_set(err, RM_ENOENT, i, names[i], "%s: unknown knob", names[i] ? names[i] : "");
            return RM_ENOENT;
        }
        pthread_mutex_lock(&k->mu);
        rm_knobs_format(&rm__knob_defs[id], base_value_locked(k, id), text[i], sizeof text[i]);
        pthread_mutex_unlock(&k->mu);
        a[i] = (rm_knob_assign_t){rm__knob_defs[id].name, text[i]};
    }
    unsigned flags = RM__KNOBS_RESET | (validate_only ? RM_KNOBS_VALIDATE_ONLY : 0);
    return rm_knobs_set_ex(k, a, n, flags, err);
}

bool
rm_knobs_restart_override(rm_knobs_t *k, const char *name, char *buf, size_t len)
{
    rm_knob_id_t id;
    if (rm_knobs_lookup(name, &id) != RM_OK)
        return false;
    const rm_knob_def_t *def = &rm__knob_defs[id];
    char conf[RM_KNOB_TEXT_MAX], reset[RM_KNOB_TEXT_MAX], where[RM_KNOB_SOURCE_MAX];
    pthread_mutex_lock(&k->mu);
    int origin = k->origin[id], src = k->base_src[id];
    bool differs = !rm_knobs_value_equal(def, &k->configured[id], base_value_locked(k, id));
    rm_knobs_format(def, &k->configured[id], conf, sizeof conf);
    rm_knobs_format(def, base_value_locked(k, id), reset, sizeof reset);
    base_text_locked(k, id, where, sizeof where);
    if (src == RM_KNOB_SRC_FLAG && k->base_where[id][0])
        snprintf(where, sizeof where, "flag %.*s", (int)(sizeof where - sizeof "flag "), k->base_where[id]);
    pthread_mutex_unlock(&k->mu);
    if (origin == ORIGIN_BASE || !differs)
        return false;
    if (src == RM_KNOB_SRC_ENV || src == RM_KNOB_SRC_FLAG)
        snprintf(buf, len,
                 "%s = %s holds until the next restart only: %s sets %s there, and the "
                 "%s beats a persisted runtime value",
                 name, conf, where, reset, src == RM_KNOB_SRC_ENV ? "environment" : "flag");
    else if (origin == ORIGIN_RUNTIME_MEMORY)
        snprintf(buf, len, "%s = %s is not persisted: it returns to %s (%s) at the next restart",
                 name, conf, reset, where);
    else
        return false;
    return true;
}
