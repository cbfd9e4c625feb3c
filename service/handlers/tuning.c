/*
 * tuning.c — rustymem.v1.TuningService over the knob registry
 * (memcore/include/rustymem/knobs.h).
 *
 * SetKnobs and ApplyProfile are all-or-nothing: the registry validates every
 * assignment together (ranges, cross-knob constraints, subscriber vetoes,
 * persistence) before anything changes. A rejected change answers
 * INVALID_ARGUMENT (NOT_FOUND for an unknown knob) with the registry's message,
 * which names the knob and the allowed range. Every accepted change is audited
 * with its before -> after values. Each knob reports its source and reset value
 * (pg_settings' source / reset_val); ResetKnobs returns knobs to that value and
 * SetKnobs warns when an env variable or flag will override a runtime value at
 * the next restart (docs/adr/0030). A change is committed before it is on
 * disk: the knob writer persists it (docs/adr/0031); the reply says whether it
 * is durable yet, and wait_persisted waits for it.
 */
#include <stdio.h>
#include <string.h>

#include "host.h"
#include "rpc_internal.h"
#include "rustymem/v1/tuning.pb-c.h"

static const char *const type_names[] = {"int", "double", "bool", "enum", "int_list", "bytes"};

static rm_knobs_t *
knobs_of(rm_rpc_ctx_t *ctx)
{
    rm_host_t *host = rm_host_of(ctx);
    return host ? host->knobs : NULL;
}

/* Fill one KnobInfo from the registry. */
static grpc_status_code
fill_info(rm_rpc_ctx_t *ctx, rm_knobs_t *k, const rm_knob_def_t *d, Rustymem__V1__KnobInfo **out)
{
    Rustymem__V1__KnobInfo *ki = rm_rpc_alloc(ctx, sizeof *ki);
    char value[RM_KNOB_TEXT_MAX], configured[RM_KNOB_TEXT_MAX], buf[RM_KNOB_TEXT_MAX];
    bool pending = false;
    if (!ki)
        return rm_rpc_fail(ctx, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    rustymem__v1__knob_info__init(ki);
    if (rm_knobs_get_text(k, d->name, value, sizeof value, configured, sizeof configured, &pending) != RM_OK)
        return rm_rpc_fail(ctx, GRPC_STATUS_INTERNAL, "knob %s vanished", d->name);
    ki->name = (char *)d->name;
    ki->type = (char *)type_names[d->type < 6 ? d->type : 0];
    ki->value = rm_rpc_strdup(ctx, pending ? configured : value);
    rm_knobs_format(d, &d->def, buf, sizeof buf);
    ki->default_value = rm_rpc_strdup(ctx, buf);
    switch (d->type) {
    case RM_KNOB_DOUBLE:
        snprintf(buf, sizeof buf, "%g", d->min_d);
        ki->min_value = rm_rpc_strdup(ctx, buf);
        snprintf(buf, sizeof buf, "%g", d->max_d);
        ki->max_value = rm_rpc_strdup(ctx, buf);
        break;
    case RM_KNOB_INT64:
    case RM_KNOB_BYTES:
    case RM_KNOB_INT_LIST:
        snprintf(buf, sizeof buf, "%lld", (long long)d->min_i);
        ki->min_value = rm_rpc_strdup(ctx, buf);
        snprintf(buf, sizeof buf, "%lld", (long long)d->max_i);
        ki->max_value = rm_rpc_strdup(ctx, buf);
        break;
    default:
        break;
    }
    ki->unit = (char *)(d->unit ? d->unit : "");
    ki->description = (char *)(d->description ? d->description : "");
    ki->live = !d->restart;
    ki->pending_restart = pending;
    ki->applying = rm_knobs_applying(k, d->id);
    rm_knob_source_info_t si;
    if (rm_knobs_get_source(k, d->name, &si) == RM_OK) {
        ki->source = rm_rpc_strdup(ctx, si.text);
        ki->reset_value = rm_rpc_strdup(ctx, si.reset_value);
        ki->reset_source = rm_rpc_strdup(ctx, si.reset_text);
        if (!ki->source || !ki->reset_value || !ki->reset_source)
            return rm_rpc_fail(ctx, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    }
    if (d->type == RM_KNOB_ENUM && d->enum_names) {
        size_t n = 0;
        while (d->enum_names[n])
            n++;
        ki->allowed_values = rm_rpc_alloc(ctx, (n ? n : 1) * sizeof(char *));
        if (!ki->allowed_values)
            return rm_rpc_fail(ctx, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        for (size_t i = 0; i < n; i++)
            ki->allowed_values[i] = (char *)d->enum_names[i];
        ki->n_allowed_values = n;
    }
    if (!ki->value || !ki->default_value)
        return rm_rpc_fail(ctx, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    *out = ki;
    return GRPC_STATUS_OK;
}

#define NEED_KNOBS(ctx, k)                                                                         \
    rm_knobs_t *k = knobs_of(ctx);                                                                 \
    if (!k)                                                                                        \
        return rm_host_unimplemented(ctx, "this server hosts no knob registry");

/* The registry's last committed and last durable generations (docs/adr/0031),
 * as ListKnobs and GetKnobs report them. */
static void
persist_generations(rm_knobs_t *k, uint64_t *generation, uint64_t *durable)
{
    rm_knobs_persist_state_t ps;
    rm_knobs_persist_state(k, &ps);
    *generation = ps.generation;
    *durable = ps.durable;
}

static grpc_status_code
list_knobs(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req_, ProtobufCMessage *resp_)
{
    const Rustymem__V1__ListKnobsRequest *req = (const void *)req_;
    Rustymem__V1__ListKnobsResponse *resp = (void *)resp_;
    NEED_KNOBS(ctx, k);
    size_t total = rm_knobs_count(), n = 0;
    resp->knobs = rm_rpc_alloc(ctx, total * sizeof *resp->knobs);
    if (!resp->knobs)
        return rm_rpc_fail(ctx, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    size_t plen = strlen(req->prefix);
    for (size_t i = 0; i < total; i++) {
        const rm_knob_def_t *d = rm_knobs_def((rm_knob_id_t)i);
        if (strncmp(d->name, req->prefix, plen) != 0)
            continue;
        rm_knob_source_info_t si;
        if (req->changed_only && rm_knobs_get_source(k, d->name, &si) == RM_OK &&
            si.source == RM_KNOB_SRC_DEFAULT)
            continue;
        grpc_status_code c = fill_info(ctx, k, d, &resp->knobs[n]);
        if (c != GRPC_STATUS_OK)
            return c;
        n++;
    }
    if (n == 0 && plen && !req->changed_only)
        return rm_rpc_fail(ctx, GRPC_STATUS_NOT_FOUND, "prefix = '%s': no knob name starts with it",
                           req->prefix);
    resp->n_knobs = n;
    persist_generations(k, &resp->persist_generation, &resp->durable_generation);
    return GRPC_STATUS_OK;
}

static grpc_status_code
get_knobs(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req_, ProtobufCMessage *resp_)
{
    const Rustymem__V1__GetKnobsRequest *req = (const void *)req_;
    Rustymem__V1__GetKnobsResponse *resp = (void *)resp_;
    NEED_KNOBS(ctx, k);
    if (req->n_names == 0)
        return rm_rpc_fail(ctx, GRPC_STATUS_INVALID_ARGUMENT, "names: give at least one knob name");
    resp->knobs = rm_rpc_alloc(ctx, req->n_names * sizeof *resp->knobs);
    if (!resp->knobs)
        return rm_rpc_fail(ctx, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    for (size_t i = 0; i < req->n_names; i++) {
        rm_knob_id_t id;
        if (rm_knobs_lookup(req->names[i], &id) != RM_OK)
            return rm_rpc_fail(ctx, GRPC_STATUS_NOT_FOUND, "names[%zu] = '%s': no such knob", i,
                               req->names[i]);
        grpc_status_code c = fill_info(ctx, k, rm_knobs_def(id), &resp->knobs[i]);
        if (c != GRPC_STATUS_OK)
            return c;
    }
    resp->n_knobs = req->n_names;
    persist_generations(k, &resp->persist_generation, &resp->durable_generation);
    return GRPC_STATUS_OK;
}

/* The knob names of a request field: 1..rm_knobs_count(), else
 * INVALID_ARGUMENT naming the field ("names: give at least one knob name"). */
static grpc_status_code
check_count(rm_rpc_ctx_t *ctx, const char *field, size_t n, const char *one)
{
    if (n == 0)
        return rm_rpc_fail(ctx, GRPC_STATUS_INVALID_ARGUMENT, "%s: give at least one %s", field, one);
    if (n > rm_knobs_count())
        return rm_rpc_fail(ctx, GRPC_STATUS_INVALID_ARGUMENT, "%s: %zu given, at most %zu allowed", field, n,
                           rm_knobs_count());
    return GRPC_STATUS_OK;
}

typedef char knob_text_t[RM_KNOB_TEXT_MAX];

/* Capture the current text of the named knobs (for before -> after), in
 * memory of the call; NULL when out of memory. */
static knob_text_t *
snapshot(rm_rpc_ctx_t *ctx, rm_knobs_t *k, const char *const *names, size_t n)
{
    knob_text_t *out = rm_rpc_alloc(ctx, (n ? n : 1) * RM_KNOB_TEXT_MAX);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        bool pending;
        char value[RM_KNOB_TEXT_MAX];
        if (rm_knobs_get_text(k, names[i], value, sizeof value, out[i], RM_KNOB_TEXT_MAX, &pending) != RM_OK)
            out[i][0] = '\0';
    }
    return out;
}

static grpc_status_code
knob_error(rm_rpc_ctx_t *ctx, const rm_knob_error_t *err)
{
    grpc_status_code c = rm_rpc_status_from_rm(err->status);
    if (c == GRPC_STATUS_INTERNAL || c == GRPC_STATUS_UNKNOWN)
        c = GRPC_STATUS_INTERNAL;
    return rm_rpc_fail(ctx, c, "%s", err->message[0] ? err->message : rm_strerror(err->status));
}

/* Build the response: one change per knob whose configured value moved. */
static grpc_status_code
fill_changes(rm_rpc_ctx_t *ctx, rm_knobs_t *k, const char *const *names, size_t n,
             char (*before)[RM_KNOB_TEXT_MAX], int applied, Rustymem__V1__SetKnobsResponse *resp,
             const char *const *proposed, const rm_knob_error_t *err)
{
    resp->applied = applied;
    resp->applying = applied && err->applying > 0;
    resp->changes = rm_rpc_alloc_messages(ctx, &rustymem__v1__knob_change__descriptor, n);
    if (!resp->changes)
        return rm_rpc_fail(ctx, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    char audit[1024];
    size_t used = 0;
    audit[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        Rustymem__V1__KnobChange *c = resp->changes[i];
        char value[RM_KNOB_TEXT_MAX], configured[RM_KNOB_TEXT_MAX];
        bool pending = false;
        rm_knobs_get_text(k, names[i], value, sizeof value, configured, sizeof configured, &pending);
        c->name = rm_rpc_strdup(ctx, names[i]);
        c->old_value = rm_rpc_strdup(ctx, before[i]);
        c->new_value = rm_rpc_strdup(ctx, applied ? configured : proposed[i]);
        c->pending_restart = pending;
        rm_knob_id_t id;
        c->applying = applied && rm_knobs_lookup(names[i], &id) == RM_OK && rm_knobs_applying(k, id);
        if (applied && used < sizeof audit)
            used += (size_t)snprintf(audit + used, sizeof audit - used, "%s%s: %s -> %s", i ? ", " : "",
                                     names[i], before[i], configured);
    }
    resp->n_changes = n;
    if (applied)
        rm_host_audit(ctx, "%s", audit);
    return GRPC_STATUS_OK;
}

/* Warnings of an applied set: runtime values the next restart will not keep. */
static grpc_status_code
fill_warnings(rm_rpc_ctx_t *ctx, rm_knobs_t *k, const char *const *names, size_t n,
              Rustymem__V1__SetKnobsResponse *resp)
{
    resp->warnings = rm_rpc_alloc(ctx, (n ? n : 1) * sizeof *resp->warnings);
    if (!resp->warnings)
        return rm_rpc_fail(ctx, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    char buf[RM_KNOB_SOURCE_MAX + 3 * RM_KNOB_TEXT_MAX];
    for (size_t i = 0; i < n; i++)
        if (rm_knobs_restart_override(k, names[i], buf, sizeof buf) &&
            !(resp->warnings[resp->n_warnings++] = rm_rpc_strdup(ctx, buf)))
            return rm_rpc_fail(ctx, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return GRPC_STATUS_OK;
}

/* Longest wait_persisted wait (the call's deadline, less a margin, when shorter). */
#define WAIT_PERSISTED_MAX_MS 10000

/* Where the committed change stands on disk (docs/adr/0031); with wait, wait
 * for it first. A failed or unfinished write is a warning, not an error: the
 * change is committed either way. Appends to resp->warnings (allocated by
 * fill_warnings, or here for ResetKnobs). */
static grpc_status_code
fill_persisted(rm_rpc_ctx_t *ctx, rm_knobs_t *k, const rm_knob_error_t *err, bool wait,
               Rustymem__V1__SetKnobsResponse *resp)
{
    resp->persist_generation = err->persist_gen;
    char why[256] = "", line[400] = "";
    if (wait && err->persist_gen) {
        int64_t left = rm_rpc_remaining_ms(ctx) - 200;
        uint32_t ms = left < 0 ? 0 : left > WAIT_PERSISTED_MAX_MS ? WAIT_PERSISTED_MAX_MS : (uint32_t)left;
        rm_status_t st = rm_knobs_wait_persisted(k, err->persist_gen, ms, why, sizeof why);
        if (st == RM_ETIMEDOUT)
            snprintf(line, sizeof line,
                     "the change is committed but not on disk yet after %u ms (persist generation %llu): a "
                     "crash now loses it",
                     ms, (unsigned long long)err->persist_gen);
        else if (st != RM_OK)
            snprintf(line, sizeof line, "the change is committed but writing it failed (%s): a restart loses it",
                     why[0] ? why : rm_strerror(st));
    }
    rm_knobs_persist_state_t ps;
    rm_knobs_persist_state(k, &ps);
    resp->durable_generation = ps.durable;
    resp->persisted = err->persist_gen && ps.durable >= err->persist_gen;
    if (line[0]) {
        char **w = rm_rpc_alloc(ctx, (resp->n_warnings + 1) * sizeof *w);
        if (!w || !(w[resp->n_warnings] = rm_rpc_strdup(ctx, line)))
            return rm_rpc_fail(ctx, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        if (resp->n_warnings)
            memcpy(w, resp->warnings, resp->n_warnings * sizeof *w);
        resp->warnings = w;
        resp->n_warnings++;
    }
    return GRPC_STATUS_OK;
}

/* Runs one change through the registry, all or nothing (`err` filled when it
 * is refused): rm_knobs_set, rm_knobs_reset or rm_knobs_apply_profile with the
 * request's own arguments in `arg`. */
typedef rm_status_t (*run_change_fn)(rm_rpc_ctx_t *ctx, rm_knobs_t *k, const void *arg, bool validate_only,
                                     rm_knob_error_t *err);

/* SetKnobs, ResetKnobs and ApplyProfile: capture the named knobs' values,
 * run the change, and answer it: the changes (audited when applied); then,
 * when applied, the restart warnings (with `warn`) and where the change stands
 * on disk. */
static grpc_status_code
change_knobs(rm_rpc_ctx_t *ctx, rm_knobs_t *k, const char *const *names, const char *const *values, size_t n,
             run_change_fn run, const void *arg, bool validate_only, bool warn, bool wait_persisted,
             Rustymem__V1__SetKnobsResponse *resp)
{
    knob_text_t *before = snapshot(ctx, k, names, n);
    if (!before)
        return rm_rpc_fail(ctx, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    rm_knob_error_t err;
    if (run(ctx, k, arg, validate_only, &err) != RM_OK)
        return knob_error(ctx, &err);
    grpc_status_code c = fill_changes(ctx, k, names, n, before, !validate_only, resp, values, &err);
    if (c != GRPC_STATUS_OK || validate_only)
        return c;
    if (warn && (c = fill_warnings(ctx, k, names, n, resp)) != GRPC_STATUS_OK)
        return c;
    return fill_persisted(ctx, k, &err, wait_persisted, resp);
}

typedef struct {
    const rm_knob_assign_t *a;
    size_t n;
} knob_assigns_t;

static rm_status_t
run_set(rm_rpc_ctx_t *ctx, rm_knobs_t *k, const void *arg, bool validate_only, rm_knob_error_t *err)
{
    (void)ctx;
    const knob_assigns_t *set = arg;
    return rm_knobs_set(k, set->a, set->n, validate_only, err);
}

static grpc_status_code
set_knobs(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req_, ProtobufCMessage *resp_)
{
    const Rustymem__V1__SetKnobsRequest *req = (const void *)req_;
    Rustymem__V1__SetKnobsResponse *resp = (void *)resp_;
    NEED_KNOBS(ctx, k);
    size_t n = req->n_assignments;
    grpc_status_code c = check_count(ctx, "assignments", n, "name=value");
    if (c != GRPC_STATUS_OK)
        return c;
    rm_knob_assign_t *a = rm_rpc_alloc(ctx, n * sizeof *a);
    const char **names = rm_rpc_alloc(ctx, n * sizeof *names);
    const char **values = rm_rpc_alloc(ctx, n * sizeof *values);
    if (!a || !names || !values)
        return rm_rpc_fail(ctx, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    for (size_t i = 0; i < n; i++) {
        a[i].name = names[i] = req->assignments[i]->name;
        a[i].value = values[i] = req->assignments[i]->value;
    }
    const knob_assigns_t set = {a, n};
    return change_knobs(ctx, k, names, values, n, run_set, &set, req->validate_only, true, req->wait_persisted,
                        resp);
}

static rm_status_t
run_reset(rm_rpc_ctx_t *ctx, rm_knobs_t *k, const void *arg, bool validate_only, rm_knob_error_t *err)
{
    (void)ctx;
    const Rustymem__V1__ResetKnobsRequest *req = arg;
    rm_status_t st = rm_knobs_reset(k, (const char *const *)req->names, req->n_names, validate_only, err);
    if (st != RM_OK && err->status == RM_ENOENT) /* a knob named twice, or vanished: the caller's input */
        err->status = RM_EINVAL;
    return st;
}

static grpc_status_code
reset_knobs(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req_, ProtobufCMessage *resp_)
{
    const Rustymem__V1__ResetKnobsRequest *req = (const void *)req_;
    Rustymem__V1__SetKnobsResponse *resp = (void *)resp_;
    NEED_KNOBS(ctx, k);
    size_t n = req->n_names;
    grpc_status_code c = check_count(ctx, "names", n, "knob name");
    if (c != GRPC_STATUS_OK)
        return c;
    const char **values = rm_rpc_alloc(ctx, n * sizeof *values);
    if (!values)
        return rm_rpc_fail(ctx, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    for (size_t i = 0; i < n; i++) {
        rm_knob_source_info_t si;
        if (rm_knobs_get_source(k, req->names[i], &si) != RM_OK)
            return rm_rpc_fail(ctx, GRPC_STATUS_INVALID_ARGUMENT, "names[%zu] = '%s': no such knob", i,
                               req->names[i]);
        values[i] = rm_rpc_strdup(ctx, si.reset_value);
        if (!values[i])
            return rm_rpc_fail(ctx, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    }
    return change_knobs(ctx, k, (const char *const *)req->names, values, n, run_reset, req, req->validate_only,
                        false, req->wait_persisted, resp);
}

typedef struct {
    rm_knobs_workload_t w;
    rm_knobs_environment_t e;
} profile_t;

static rm_status_t
run_profile(rm_rpc_ctx_t *ctx, rm_knobs_t *k, const void *arg, bool validate_only, rm_knob_error_t *err)
{
    const profile_t *p = arg;
    rm_status_t st = rm_knobs_apply_profile(k, p->w, p->e, validate_only, err);
    if (st == RM_OK && !validate_only)
        rm_host_audit(ctx, "profile %s/%s", rm_knobs_workload_name(p->w), rm_knobs_environment_name(p->e));
    return st;
}

static grpc_status_code
apply_profile(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req_, ProtobufCMessage *resp_)
{
    const Rustymem__V1__ApplyProfileRequest *req = (const void *)req_;
    Rustymem__V1__SetKnobsResponse *resp = (void *)resp_;
    NEED_KNOBS(ctx, k);
    rm_knobs_workload_t w;
    rm_knobs_environment_t e;
    switch (req->workload) {
    case RUSTYMEM__V1__WORKLOAD__WORKLOAD_OLTP: w = RM_WORKLOAD_OLTP; break;
    case RUSTYMEM__V1__WORKLOAD__WORKLOAD_OLAP: w = RM_WORKLOAD_OLAP; break;
    case RUSTYMEM__V1__WORKLOAD__WORKLOAD_MIXED: w = RM_WORKLOAD_MIXED; break;
    default:
        return rm_rpc_fail(ctx, GRPC_STATUS_INVALID_ARGUMENT,
                           "workload = %d: expected WORKLOAD_OLTP, WORKLOAD_OLAP or WORKLOAD_MIXED",
                           (int)req->workload);
    }
    switch (req->environment) {
    case RUSTYMEM__V1__ENVIRONMENT__ENVIRONMENT_DEVELOPMENT: e = RM_ENV_DEVELOPMENT; break;
    case RUSTYMEM__V1__ENVIRONMENT__ENVIRONMENT_PRODUCTION: e = RM_ENV_PRODUCTION; break;
    case RUSTYMEM__V1__ENVIRONMENT__ENVIRONMENT_MISSION_CRITICAL: e = RM_ENV_MISSION_CRITICAL; break;
    default:
        return rm_rpc_fail(ctx, GRPC_STATUS_INVALID_ARGUMENT,
                           "environment = %d: expected ENVIRONMENT_DEVELOPMENT, ENVIRONMENT_PRODUCTION or "
                           "ENVIRONMENT_MISSION_CRITICAL",
                           (int)req->environment);
    }
    /* The knobs the profile touches: the union of both tables. */
    size_t nw = 0, ne = 0;
    const rm_knobs_profile_entry_t *tw = rm_knobs_workload_table(w, &nw);
    const rm_knobs_profile_entry_t *te = rm_knobs_environment_table(e, &ne);
    const char **names = rm_rpc_alloc(ctx, (nw + ne + 1) * sizeof *names);
    const char **values = rm_rpc_alloc(ctx, (nw + ne + 1) * sizeof *values);
    if (!names || !values)
        return rm_rpc_fail(ctx, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    size_t n = 0;
    for (size_t pass = 0; pass < 2; pass++) {
        const rm_knobs_profile_entry_t *t = pass ? te : tw; /* workload first: it wins */
        size_t cnt = pass ? ne : nw;
        for (size_t i = 0; i < cnt; i++) {
            const char *name = rm_knobs_def(t[i].id)->name;
            size_t j;
            for (j = 0; j < n && strcmp(names[j], name) != 0; j++)
                ;
            if (j == n) {
                names[n] = name;
                values[n++] = t[i].value;
            }
        }
    }
    const profile_t p = {w, e};
    return change_knobs(ctx, k, names, values, n, run_profile, &p, req->validate_only, true, req->wait_persisted,
                        resp);
}

#define TS "/rustymem.v1.TuningService/"
static const rm_rpc_method_t tuning_methods[] = {
    RM_RPC_UNARY_METHOD(TS "ListKnobs", rustymem__v1__list_knobs_request__descriptor,
                        rustymem__v1__list_knobs_response__descriptor, RM_ROLE_READER, list_knobs),
    RM_RPC_UNARY_METHOD(TS "GetKnobs", rustymem__v1__get_knobs_request__descriptor,
                        rustymem__v1__get_knobs_response__descriptor, RM_ROLE_READER, get_knobs),
    RM_RPC_UNARY_WAITING_METHOD(TS "SetKnobs", rustymem__v1__set_knobs_request__descriptor,
                                rustymem__v1__set_knobs_response__descriptor, RM_ROLE_ADMIN, set_knobs),
    RM_RPC_UNARY_WAITING_METHOD(TS "ApplyProfile", rustymem__v1__apply_profile_request__descriptor,
                                rustymem__v1__set_knobs_response__descriptor, RM_ROLE_ADMIN, apply_profile),
    RM_RPC_UNARY_WAITING_METHOD(TS "ResetKnobs", rustymem__v1__reset_knobs_request__descriptor,
                                rustymem__v1__set_knobs_response__descriptor, RM_ROLE_ADMIN, reset_knobs),
};
#undef TS

const rm_rpc_service_t rm_tuning_service = RM_RPC_SERVICE("rustymem.v1.TuningService", tuning_methods);
