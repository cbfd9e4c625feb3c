/*
 * config.c — load rustymemd's knobs from INI file, persisted file,
 * environment and flags (libinih), and persist runtime changes atomically.
 *
 * Design note. libinih (Debian libinih-dev) is built without
 * INI_HANDLER_LINENO, so the handler cannot see line numbers; we feed it
 * through ini_parse_stream with our own line reader, which counts lines and
 * reads whole lines (inih handles one line per reader call, so the count is
 * exact when the handler runs). A line longer than inih's buffer would be
 * split silently; the reader marks it and the handler reports it.
 *
 * Every layer is collected into one slot per knob (the highest layer wins),
 * each value checked where it was read; the merged set is then applied in one
 * rm_knobs_set_ex so constraints see the final state and failure changes
 * nothing. Error messages carry the origin of the value they blame.
 *
 * Runtime changes are persisted by one writer thread (rm_config_writer_*,
 * docs/adr/0031): the registry hands it the newest whole text under its lock,
 * the thread does the fsyncs. Lock order: the registry's mu → w->mu; the
 * thread calls rm_knobs_persist_done without w->mu.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum layer { L_NONE = 0, L_FILE, L_PERSISTED, L_ENV, L_FLAG };

typedef struct slot {
    enum layer layer;
    char *value;        /* owned */
    char origin[320];   /* "path:12", "environment RUSTYMEM_X", "--set" */
} slot_t;

typedef struct loader {
    slot_t slots[RM_KNOB_COUNT];
    char *persisted_value[RM_KNOB_COUNT]; /* owned; values read from the persisted file */
    char *file_value[RM_KNOB_COUNT];      /* owned; values read from the operator's file */
    char file_origin[RM_KNOB_COUNT][320]; /* "path:12" of each file value */
    slot_t base[RM_KNOB_COUNT];           /* highest non-runtime layer (file, env, flag): the
                                             reset value; origin holds its "where" */
    rm_status_t status;                   /* first error */
    char *err;
    size_t err_len;
} loader_t;

typedef struct file_ctx {
    loader_t *ld;
    enum layer layer;
    const char *path;
    FILE *f;
    int line;          /* lines read so far = line of the current handler call */
    int long_line;     /* line number of a line longer than inih's buffer, 0 = none */
    int file_line[RM_KNOB_COUNT]; /* line where each knob was set in this file */
} file_ctx_t;

static void fail(loader_t *ld, rm_status_t st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
fail(loader_t *ld, rm_status_t st, const char *fmt, ...)
{
    if (ld->status != RM_OK)
        return; /* keep the first error */
    ld->status = st;
    if (ld->err && ld->err_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ld->err, ld->err_len, fmt, ap);
        va_end(ap);
    }
}

/* Record a boot-layer (file, env, flag) value as knob id's reset value when
 * its layer is the highest so far. `where` for rm_knobs_set_base: the file and
 * line, the variable name, or "--set". Returns 1 to continue. */
static int
put_base(loader_t *ld, rm_knob_id_t id, const char *value, enum layer layer, const char *origin)
{
    slot_t *b = &ld->base[id];
    if (layer < b->layer)
        return 1;
    char *copy = strdup(value);
    if (!copy) {
        fail(ld, RM_ENOMEM, "%s: out of memory", origin);
        return 0;
    }
    free(b->value);
    b->value = copy;
    b->layer = layer;
    const char *where = layer == L_ENV ? origin + strlen("environment ")
                        : layer == L_FLAG ? "--set"
                                          : origin;
    snprintf(b->origin, sizeof b->origin, "%s", where);
    return 1;
}

/* Record value for knob id from a layer; checks it now so the error can name
 * its origin. Returns 1 to continue. */
static int
put(loader_t *ld, rm_knob_id_t id, const char *value, enum layer layer, const char *origin)
{
    const rm_knob_def_t *def = rm_knobs_def(id);
    rm_knob_value_t v;
    char why[160];
    if (rm_knobs_parse(def, value, &v, why, sizeof why) != RM_OK) {
        fail(ld, RM_EINVAL, "%s: %s = %s: %s", origin, def->name, value, why);
        return 0;
    }
    char *copy = strdup(value);
    if (!copy) {
        fail(ld, RM_ENOMEM, "%s: out of memory", origin);
        return 0;
    }
    slot_t *s = &ld->slots[id];
    if (layer >= s->layer) {
        free(s->value);
        s->value = copy;
        s->layer = layer;
        snprintf(s->origin, sizeof s->origin, "%s", origin);
    } else {
        free(copy);
    }
    if (layer != L_PERSISTED && !put_base(ld, id, value, layer, origin))
        return 0;
    if (layer == L_PERSISTED || layer == L_FILE) {
        char *p = strdup(value);
        if (!p) {
            fail(ld, RM_ENOMEM, "%s: out of memory", origin);
            return 0;
        }
        char **keep = layer == L_PERSISTED ? &ld->persisted_value[id] : &ld->file_value[id];
        free(*keep);
        *keep = p;
        if (layer == L_FILE)
            snprintf(ld->file_origin[id], sizeof ld->file_origin[id], "%s", origin);
    }
    return 1;
}

/* ---- INI files ---------------------------------------------------------- */

static char *
line_reader(char *str, int num, void *stream)
{
    file_ctx_t *fc = stream;
    if (!fgets(str, num, fc->f))
        return NULL;
    fc->line++;
    size_t n = strlen(str);
    if (n > 0 && str[n - 1] != '\n' && !feof(fc->f)) {
        int c;
        while ((c = fgetc(fc->f)) != EOF && c != '\n')
            ;
        fc->long_line = fc->line;
    }
    return str;
}

static int
on_ini_entry(void *user, const char *section, const char *name, const char *value)
{
    file_ctx_t *fc = user;
    loader_t *ld = fc->ld;
    char origin[320], knob[RM_KNOB_NAME_MAX * 2];
    if (ld->status != RM_OK)
        return 1; /* already failed: let inih finish quietly */
    snprintf(origin, sizeof origin, "%s:%d", fc->path, fc->line);
    if (fc->long_line == fc->line) {
        fail(ld, RM_EINVAL, "%s: line too long", origin);
        return 0;
    }
    if (!section || !*section) {
        fail(ld, RM_EINVAL, "%s: key '%s' outside a [section]", origin, name);
        return 0;
    }
    snprintf(knob, sizeof knob, "%s.%s", section, name);
    rm_knob_id_t id;
    if (rm_knobs_lookup(knob, &id) != RM_OK) {
        fail(ld, RM_ENOENT, "%s: %s: unknown knob", origin, knob);
        return 0;
    }
    if (fc->file_line[id]) {
        fail(ld, RM_EINVAL, "%s: %s: set twice (first at line %d)", origin, knob,
             fc->file_line[id]);
        return 0;
    }
    fc->file_line[id] = fc->line;
    return put(ld, id, value, fc->layer, origin);
}

/* Parse one INI file into the loader. missing_ok: a nonexistent file is an
 * empty layer. */
static void
load_file(loader_t *ld, const char *path, enum layer layer, int missing_ok)
{
    file_ctx_t fc = {.ld = ld, .layer = layer, .path = path};
    fc.f = fopen(path, "r");
    if (!fc.f) {
        if (!(missing_ok && errno == ENOENT))
            /* fopen allocates its FILE: out of memory is not an I/O error */
            fail(ld, errno == ENOMEM ? RM_ENOMEM : RM_EIO, "%s: cannot open: %s", path,
                 strerror(errno));
        return;
    }
    int rc = ini_parse_stream(line_reader, &fc, on_ini_entry, &fc);
    if (ferror(fc.f))
        fail(ld, RM_EIO, "%s: read error", path);
    fclose(fc.f);
    if (rc == -2)
        fail(ld, RM_ENOMEM, "%s: out of memory", path);
    else if (rc > 0)
        fail(ld, RM_EINVAL, "%s:%d: syntax error", path, rc); /* no-op if the handler failed */
}

/* ---- environment -------------------------------------------------------- */

/* "RUSTYMEM_" + upper(name with '.' -> '_') */
static void
env_name(const char *knob, char *buf, size_t len)
{
    size_t n = (size_t)snprintf(buf, len, "%s", RM_CONFIG_ENV_PREFIX);
    for (const char *p = knob; *p && n + 1 < len; p++)
        buf[n++] = *p == '.' ? '_' : (*p >= 'a' && *p <= 'z') ? (char)(*p - 'a' + 'A') : *p;
    buf[n] = '\0';
}

static void
load_env(loader_t *ld, char *const *envp)
{
    const size_t plen = strlen(RM_CONFIG_ENV_PREFIX);
    for (; envp && *envp && ld->status == RM_OK; envp++) {
        const char *var = *envp;
        const char *eq = strchr(var, '=');
        if (!eq || strncmp(var, RM_CONFIG_ENV_PREFIX, plen) != 0)
            continue;
        size_t nlen = (size_t)(eq - var);
        char origin[320], want[RM_KNOB_NAME_MAX + 16];
        snprintf(origin, sizeof origin, "environment %.*s", (int)nlen, var);
        int matched = 0, section_match = 0;
        for (size_t i = 0; i < rm_knobs_count() && !matched; i++) {
            const rm_knob_def_t *def = rm_knobs_def((rm_knob_id_t)i);
            env_name(def->name, want, sizeof want);
            if (strlen(want) == nlen && strncmp(want, var, nlen) == 0) {
                matched = 1;
                put(ld, def->id, eq + 1, L_ENV, origin);
                break;
            }
            /* RUSTYMEM_<SECTION>_ of this knob? */
            const char *dot = strchr(def->name, '.');
            size_t slen = plen + (size_t)(dot - def->name) + 1;
            if (nlen > slen && strncmp(want, var, slen) == 0)
                section_match = 1;
        }
        if (!matched && section_match)
            fail(ld, RM_ENOENT, "%s: unknown knob (variables are RUSTYMEM_<SECTION>_<KEY>)",
                 origin);
    }
}

/* ---- merging ------------------------------------------------------------ */

/*
 * The merged boot set, and which persisted (runtime) values were dropped from
 * it. A persisted value is a decision the operator made through SetKnobs
 * against the file as it was then; when the file changes under it and the two
 * no longer satisfy a cross-knob constraint, the file wins: the persisted value
 * is dropped (reported, and forgotten from the persisted record) so the agent
 * always starts — refusing to start over a value the operator cannot see in
 * their own file left the agent bricked until someone edited the data
 * directory. A conflict that remains without any persisted value is the
 * file's (or the environment's, a flag's) own and is reported as before.
 */
typedef struct merge {
    loader_t *ld;
    rm_knob_assign_t *a;              /* RM_KNOB_COUNT entries */
    size_t map[RM_KNOB_COUNT];        /* a[j] sets knob map[j] */
    const char *origin[RM_KNOB_COUNT];/* where a[j]'s value came from */
    char dflt[RM_KNOB_COUNT][RM_KNOB_TEXT_MAX];
    bool dropped[RM_KNOB_COUNT];      /* persisted winner replaced by the layer below */
    int reload;
    char conflict[256];               /* the first failure with every persisted value in */
} merge_t;

/* Fill m->a from the winners, with dropped persisted values replaced by the
 * file's value or the default. Returns the number of assignments. */
static size_t
merge_build(merge_t *m)
{
    loader_t *ld = m->ld;
    size_t n = 0;
    for (size_t i = 0; i < RM_KNOB_COUNT; i++) {
        const rm_knob_def_t *def = rm_knobs_def((rm_knob_id_t)i);
        const slot_t *sl = &ld->slots[i];
        const char *value = NULL, *origin = NULL;
        if (sl->layer != L_NONE && !m->dropped[i]) {
            value = sl->value;
            origin = sl->origin;
        } else if (m->dropped[i] && ld->file_value[i]) {
            value = ld->file_value[i];
            origin = ld->file_origin[i];
        } else if (m->dropped[i] || m->reload) {
            /* reload: a knob in no layer any more goes back to its default */
            rm_knobs_format(def, &def->def, m->dflt[i], sizeof m->dflt[i]);
            value = m->dflt[i];
            origin = "default";
        }
        if (!value)
            continue;
        m->map[n] = i;
        m->origin[n] = origin;
        m->a[n++] = (rm_knob_assign_t){def->name, value};
    }
    return n;
}

/* Persisted winners not yet dropped, most likely culprit first: the knob the
 * registry blamed, then its section (cross-knob constraints are per section),
 * then the rest. Returns the count. */
static size_t
merge_candidates(const merge_t *m, const rm_knob_error_t *kerr, size_t *out)
{
    size_t n = 0;
    const char *dot = strchr(kerr->knob, '.');
    size_t slen = dot ? (size_t)(dot - kerr->knob) + 1 : 0;
    for (int pass = 0; pass < 3; pass++)
        for (size_t i = 0; i < RM_KNOB_COUNT; i++) {
            if (m->ld->slots[i].layer != L_PERSISTED || m->dropped[i])
                continue;
            const char *name = rm_knobs_def((rm_knob_id_t)i)->name;
            int blamed = strcmp(name, kerr->knob) == 0;
            int same_section = !blamed && slen && strncmp(name, kerr->knob, slen) == 0;
            if ((pass == 0 && blamed) || (pass == 1 && same_section) ||
                (pass == 2 && !blamed && !same_section))
                out[n++] = i;
        }
    return n;
}

/* Apply the merged set; on a conflict drop persisted values (one at a time,
 * the first whose removal alone validates, else the likeliest) until it
 * applies or none is left. On failure the loader holds the error of the last
 * attempt (naming the origin of the value it blames) and nothing changed. */
static rm_status_t
merge_apply(rm_knobs_t *k, merge_t *m)
{
    for (;;) {
        size_t n = merge_build(m);
        if (n == 0)
            return RM_OK;
        rm_knob_error_t kerr;
        rm_status_t st = rm_knobs_set_ex(k, m->a, n, RM_KNOBS_NO_PERSIST, &kerr);
        if (st == RM_OK)
            return RM_OK;
        if (!m->conflict[0])
            snprintf(m->conflict, sizeof m->conflict, "%s", kerr.message);
        size_t cand[RM_KNOB_COUNT];
        size_t nc = merge_candidates(m, &kerr, cand);
        if (nc == 0) {
            if (kerr.index < n && strcmp(m->origin[kerr.index], "default") != 0)
                fail(m->ld, st, "%s: %s", m->origin[kerr.index], kerr.message);
            else
                fail(m->ld, st, "configuration: %s", kerr.message);
            return st;
        }
        size_t pick = cand[0];
        for (size_t c = 0; c < nc; c++) {
            rm_knob_error_t verr;
            m->dropped[cand[c]] = true;
            size_t vn = merge_build(m);
            int ok = rm_knobs_set_ex(k, m->a, vn, RM_KNOBS_NO_PERSIST | RM_KNOBS_VALIDATE_ONLY,
                                     &verr) == RM_OK;
            m->dropped[cand[c]] = false;
            if (ok) {
                pick = cand[c];
                break;
            }
        }
        m->dropped[pick] = true;
    }
}

/* After dropping persisted values at start: write the persisted file without
 * them, so the next start does not meet the same conflict. A failure leaves
 * the old file (the next persisting set rewrites it; until then each start
 * drops the value again) and is reported through src->dropped with no knob. */
static void
rewrite_persisted(rm_knobs_t *k, const rm_config_sources_t *src)
{
    char *text = NULL, why[160] = "";
    size_t len = 0;
    rm_status_t st = rm_knobs_format_ini(k, RM_KNOBS_INI_PERSISTED, &text, &len);
    if (st == RM_OK)
        st = rm_config_write_atomic(src->persisted_path, text, len, why, sizeof why);
    else
        snprintf(why, sizeof why, "out of memory");
    free(text);
    if (st != RM_OK && src->dropped)
        src->dropped(src->dropped_ctx, NULL, NULL, NULL, why);
}

/* Hand the registry every knob's reset value and its source (pg_settings'
 * source / reset_val): the highest of file, environment and flag. Called
 * after the boot set and the persisted record are in place. */
static void
record_sources(rm_knobs_t *k, loader_t *ld)
{
    static const rm_knob_source_t kind[] = {[L_FILE] = RM_KNOB_SRC_FILE,
                                            [L_ENV] = RM_KNOB_SRC_ENV,
                                            [L_FLAG] = RM_KNOB_SRC_FLAG};
    rm_knob_base_t b[RM_KNOB_COUNT];
    size_t n = 0;
    for (size_t i = 0; i < RM_KNOB_COUNT; i++) {
        const slot_t *s = &ld->base[i];
        if (s->layer == L_NONE)
            continue;
        b[n++] = (rm_knob_base_t){rm_knobs_def((rm_knob_id_t)i)->name, kind[s->layer], s->origin,
                                  s->value};
    }
    rm_knob_error_t kerr;
    if (rm_knobs_set_base(k, b, n, &kerr) != RM_OK) /* cannot happen: each value was parsed */
        fail(ld, kerr.status, "configuration: %s", kerr.message);
}

/* ---- loading ------------------------------------------------------------ */

rm_status_t
rm_config_load(rm_knobs_t *k, const rm_config_sources_t *src, char *err, size_t err_len)
{
    loader_t *ld = calloc(1, sizeof *ld);
    rm_knob_assign_t *a = NULL, *pa = NULL;
    rm_status_t st;
    if (!ld) {
        if (err && err_len)
            snprintf(err, err_len, "configuration: out of memory");
        return RM_ENOMEM;
    }
    ld->err = err;
    ld->err_len = err_len;
    if (err && err_len)
        err[0] = '\0';

    if (src && src->config_path)
        load_file(ld, src->config_path, L_FILE, 0);
    if (src && src->persisted_path && ld->status == RM_OK)
        load_file(ld, src->persisted_path, L_PERSISTED, 1);
    if (src && ld->status == RM_OK)
        load_env(ld, src->envp);
    for (size_t i = 0; src && i < src->n_flags && ld->status == RM_OK; i++) {
        char origin[320];
        rm_knob_id_t id;
        const char *name = src->flags[i].name ? src->flags[i].name : "";
        snprintf(origin, sizeof origin, "--set %s", name);
        if (rm_knobs_lookup(name, &id) != RM_OK) {
            fail(ld, RM_ENOENT, "%s: unknown knob", origin);
            break;
        }
        put(ld, id, src->flags[i].value ? src->flags[i].value : "", L_FLAG, origin);
    }
    if (ld->status != RM_OK)
        goto cleanup;

    /* one atomic set of the winners */
    a = calloc(RM_KNOB_COUNT, sizeof *a);
    pa = calloc(RM_KNOB_COUNT, sizeof *pa);
    merge_t *m = calloc(1, sizeof *m);
    if (!a || !pa || !m) {
        free(m);
        fail(ld, RM_ENOMEM, "configuration: out of memory");
        goto cleanup;
    }
    m->ld = ld;
    m->a = a;
    m->reload = src && src->reload;
    st = merge_apply(k, m);
    if (st != RM_OK) {
        free(m);
        goto cleanup;
    }
    size_t np = 0, ndropped = 0;
    for (size_t i = 0; i < RM_KNOB_COUNT; i++) {
        const rm_knob_def_t *def = rm_knobs_def((rm_knob_id_t)i);
        if (m->dropped[i]) {
            ndropped++;
            if (src->dropped)
                src->dropped(src->dropped_ctx, def->name, ld->persisted_value[i],
                             ld->file_value[i] ? ld->file_origin[i] : "default", m->conflict);
            if (m->reload)
                (void)rm_knobs_forget_persisted(k, def->name);
        } else if (ld->persisted_value[i]) {
            pa[np++] = (rm_knob_assign_t){def->name, ld->persisted_value[i]};
        }
    }
    free(m);
    if (np > 0 && !(src && src->reload)) {
        rm_knob_error_t kerr;
        st = rm_knobs_load_persisted(k, pa, np, &kerr);
        if (st != RM_OK) /* cannot happen: each value was parsed above */
            fail(ld, st, "%s: %s", src->persisted_path, kerr.message);
    }
    if (ndropped > 0 && ld->status == RM_OK && !src->reload && src->persisted_path)
        rewrite_persisted(k, src);
    if (ld->status == RM_OK)
        record_sources(k, ld);

cleanup:
    st = ld->status;
    for (size_t i = 0; i < RM_KNOB_COUNT; i++) {
        free(ld->slots[i].value);
        free(ld->persisted_value[i]);
        free(ld->file_value[i]);
        free(ld->base[i].value);
    }
    free(pa);
    free(a);
    free(ld);
    return st;
}

/* ---- atomic persistence ------------------------------------------------- */

static void
why_errno(char *why, size_t why_len, const char *what, const char *path, int e)
{
    if (why && why_len)
        snprintf(why, why_len, "%s %s: %s", what, path, strerror(e));
}

rm_status_t
rm_config_write_atomic(const char *path, const char *text, size_t len, char *why,
                       size_t why_len)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16), *dir = malloc(plen + 2);
    int fd = -1, e;
    rm_status_t st = RM_EIO;
    if (!tmp || !dir) {
        st = RM_ENOMEM;
        if (why && why_len)
            snprintf(why, why_len, "out of memory");
        goto out;
    }
    snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
    fd = mkstemp(tmp);
    if (fd < 0) {
        why_errno(why, why_len, "create", tmp, errno);
        goto out;
    }
    (void)fchmod(fd, 0644);
    for (size_t off = 0; off < len;) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            why_errno(why, why_len, "write", tmp, w < 0 ? errno : ENOSPC);
            goto unlink_tmp;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0) {
        why_errno(why, why_len, "fsync", tmp, errno);
        goto unlink_tmp;
    }
    e = close(fd);
    fd = -1;
    if (e != 0) {
        why_errno(why, why_len, "close", tmp, errno);
        goto unlink_tmp;
    }
    if (rename(tmp, path) != 0) {
        why_errno(why, why_len, "rename to", path, errno);
        goto unlink_tmp;
    }
    /* make the rename durable */
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, plen + 2, ".");
    else if (slash == path)
        snprintf(dir, plen + 2, "/");
    else
        snprintf(dir, plen + 2, "%.*s", (int)(slash - path), path);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    st = RM_OK;
    goto out;

unlink_tmp:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
out:
    free(dir);
    free(tmp);
    return st;
}

rm_status_t
rm_config_persist_fn(void *ctx, const char *text, size_t len, char *why, size_t why_len)
{
    return rm_config_write_atomic((const char *)ctx, text, len, why, why_len);
}

rm_status_t
rm_config_split_assignment(char *s, rm_knob_assign_t *out)
{
    char *eq = s ? strchr(s, '=') : NULL;
    if (!eq)
        return RM_EINVAL;
    char *name = s, *value = eq + 1, *end = eq;
    *eq = '\0';
    while (*name == ' ' || *name == '\t')
        name++;
    while (end > name && (end[-1] == ' ' || end[-1] == '\t'))
        *--end = '\0';
    if (!*name) {
        *eq = '=';
        return RM_EINVAL;
    }
    while (*value == ' ' || *value == '\t')
        value++;
    end = value + strlen(value);
    while (end > value && (end[-1] == ' ' || end[-1] == '\t'))
        *--end = '\0';
    out->name = name;
    out->value = value;
    return RM_OK;
}

/* ---- the knob writer ---------------------------------------------------- */

struct rm_config_writer {
    rm_knobs_t *k;
    const char *path;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;     /* new text, hold released, stop, or a write finished */
    char *pending;         /* guarded by mu: the newest text not yet taken (owned) */
    size_t pending_len;    /* guarded by mu */
    uint64_t pending_gen;  /* guarded by mu */
    bool writing;          /* guarded by mu: the thread is writing a text it took */
    bool failed;           /* guarded by mu: the last write failed */
    bool hold, stop;       /* guarded by mu */
    uint64_t writes;       /* guarded by mu */
};

static void *
writer_main(void *arg)
{
    rm_config_writer_t *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->stop && (w->hold || !w->pending))
            pthread_cond_wait(&w->cv, &w->mu);
        if (!w->pending)
            break; /* stopping, nothing left */
        char *text = w->pending;
        size_t len = w->pending_len;
        uint64_t gen = w->pending_gen;
        w->pending = NULL;
        w->writing = true;
        pthread_mutex_unlock(&w->mu);
        char why[256] = "";
        rm_status_t st = rm_config_write_atomic(w->path, text, len, why, sizeof why);
        free(text);
        pthread_mutex_lock(&w->mu);
        w->writing = false;
        w->failed = st != RM_OK;
        w->writes++;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
        rm_knobs_persist_done(w->k, gen, st, why);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* rm_knobs_persist_async_fn: runs under the registry's lock. */
static rm_status_t
writer_take(void *ctx, uint64_t gen, const char *text, size_t len, char *why, size_t why_len)
{
    rm_config_writer_t *w = ctx;
    pthread_mutex_lock(&w->mu);
    while (w->failed && w->writing) /* a retry in flight decides whether we are still failed */
        pthread_cond_wait(&w->cv, &w->mu);
    if (w->failed) {
        /* The disk refused the last write: write this set's text now, so a set it
         * still refuses fails and changes nothing (the thread is not writing, and
         * it cannot take a text while we hold mu). */
        rm_status_t st = rm_config_write_atomic(w->path, text, len, why, why_len);
        if (st == RM_OK) {
            w->failed = false;
            free(w->pending); /* older than this whole state */
            w->pending = NULL;
            pthread_mutex_unlock(&w->mu);
            rm_knobs_persist_done(w->k, gen, RM_OK, NULL);
            return RM_OK;
        }
        pthread_mutex_unlock(&w->mu);
        return st;
    }
    char *copy = malloc(len + 1);
    if (!copy) {
        pthread_mutex_unlock(&w->mu);
        if (why && why_len)
            snprintf(why, why_len, "out of memory");
        return RM_ENOMEM;
    }
    memcpy(copy, text, len);
    copy[len] = '\0';
    free(w->pending); /* superseded: the newest text is the whole state */
    w->pending = copy;
    w->pending_len = len;
    w->pending_gen = gen;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return RM_OK;
}

rm_status_t
rm_config_writer_start(rm_knobs_t *k, const char *path, rm_config_writer_t **out)
{
    *out = NULL;
    rm_config_writer_t *w = calloc(1, sizeof *w);
    if (!w)
        return RM_ENOMEM;
    w->k = k;
    w->path = path;
    if (pthread_mutex_init(&w->mu, NULL) != 0) {
        free(w);
        return RM_ENOMEM;
    }
    if (pthread_cond_init(&w->cv, NULL) != 0) {
        pthread_mutex_destroy(&w->mu);
        free(w);
        return RM_ENOMEM;
    }
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        free(w);
        return RM_EIO;
    }
    rm_knobs_set_persister_async(k, writer_take, w);
    *out = w;
    return RM_OK;
}

void
rm_config_writer_stop(rm_config_writer_t *w)
{
    if (!w)
        return;
    rm_knobs_set_persister_async(w->k, NULL, NULL); /* waits for a set in progress (mu) */
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    w->hold = false;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    free(w->pending);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

void
rm_config_writer_hold(rm_config_writer_t *w, bool hold)
{
    pthread_mutex_lock(&w->mu);
    w->hold = hold;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

uint64_t
rm_config_writer_writes(rm_config_writer_t *w)
{
    pthread_mutex_lock(&w->mu);
    uint64_t n = w->writes;
    pthread_mutex_unlock(&w->mu);
    return n;
}
