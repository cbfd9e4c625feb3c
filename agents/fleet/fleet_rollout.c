/*
 * fleet_rollout.c — profile rollouts (canary, gate, batches, rollback) and
 * TriggerResponse fan-out.
 *
 * Design note: before a node changes, the controller asks it which knobs the
 * profile touches (ApplyProfile with validate_only, which changes nothing)
 * and records their current values with GetKnobs; the rollback is one
 * SetKnobs with those values, which the agent applies atomically. The gate
 * runs after each wait over every node changed so far — a canary that falls
 * over while the second batch settles still stops the rollout — and uses a
 * fresh poll, not the cached view. Rollouts are serialised: two operators
 * racing profiles onto the same nodes would each roll back into the other's
 * values.
 *
 * With etcd (fleet_ha.h, docs/adr/0027) the rollout is journaled under
 * PREFIX/rollout/ before each step is taken: the plan ("plan"), each node's
 * before-values and state ("node/NAME": applying → applied → restored) and
 * each step's outcome ("step/NNNN"). Every write is a Txn guarded by the
 * leader key still holding this replica's identity, so a replica that lost
 * leadership cannot write, and it stops calling agents at TTL − margin. A new
 * leader that finds an unfinished plan rolls every node recorded as applying
 * or applied back to its before-values (rm__fleet_rollout_recover).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "fleet_etcd.h"
#include "fleet_internal.h"
#include "rm_clock.h"
#include "rustymem/v1/emergency.pb-c.h"
#include "rustymem/v1/tuning.pb-c.h"

#define APPLY_PROFILE "/rustymem.v1.TuningService/ApplyProfile"
#define GET_KNOBS "/rustymem.v1.TuningService/GetKnobs"
#define SET_KNOBS "/rustymem.v1.TuningService/SetKnobs"
#define TRIGGER_RESPONSE "/rustymem.v1.EmergencyService/TriggerResponse"

typedef struct saved {
    node_t *node;
    size_t n;
    char **names;   /* malloc'ed strings */
    char **values;
} saved_t;

typedef struct steps {
    rm_fleet_step_t *v;
    size_t n, cap;
    int oom;
    struct rm_fleet *jf;  /* journal each step to etcd when set (f->ha) */
} steps_t;

/* ---- the journal (etcd) ------------------------------------------------------ */

/* Write PREFIX/rollout/SUFFIX = json (stolen), guarded by our leadership. */
static rm_status_t
jput(struct rm_fleet *f, const char *suffix, json_t *j)
{
    rm_fleet_ha_t *ha = f->ha;
    char *txt = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(j);
    if (!txt)
        return RM_ENOMEM;
    char key[512], err[512] = "";
    rm__fleet_fmt(key, sizeof key, "%s/rollout/%s", ha->prefix, suffix);
    rm_status_t st = rm__etcd_put(ha->etcd, key, txt, 0, ha->leader_key, ha->id, err, sizeof err);
    free(txt);
    if (st != RM_OK)
        rm__fleet_log(f, "ERROR", "rollout journal: cannot write %s: %s", key, err);
    return st;
}

/* The plan, or NULL when there is none (RM_ENOENT) or etcd failed (*st). */
static json_t *
jget_plan(struct rm_fleet *f, rm_status_t *st, char *err, size_t errcap)
{
    char key[512], *v = NULL;
    rm__fleet_fmt(key, sizeof key, "%s/rollout/plan", f->ha->prefix);
    *st = rm__etcd_get(f->ha->etcd, key, &v, err, errcap);
    if (*st != RM_OK)
        return NULL;
    json_t *j = json_loads(v, 0, NULL);
    free(v);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        rm__fleet_fmt(err, errcap, "%s does not hold a JSON object", key);
        *st = RM_ECORRUPT;
        return NULL;
    }
    return j;
}

static int
plan_unfinished(json_t *plan)
{
    const char *state = json_string_value(json_object_get(plan, "state"));
    return state && (strcmp(state, "running") == 0 || strcmp(state, "rolling_back") == 0);
}

/* Set the plan's state (and reason) in place and write it. */
static rm_status_t
jplan_state(struct rm_fleet *f, json_t *plan, const char *state, const char *reason)
{
    json_object_set_new(plan, "state", json_string(state));
    if (reason)
        json_object_set_new(plan, "reason", json_string(reason));
    json_object_set_new(plan, "updated_unix_ms", json_integer(rm_wall_ms()));
    return jput(f, "plan", json_incref(plan));
}

/* PREFIX/rollout/node/NAME: its address, state and before-values. */
static rm_status_t
jnode(struct rm_fleet *f, const char *name, const char *address, const char *state, char **names, char **values,
      size_t n)
{
    json_t *j = json_object(), *before = json_object();
    if (!j || !before) {
        json_decref(j);
        json_decref(before);
        return RM_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        json_object_set_new(before, names[i], json_string(values[i]));
    json_object_set_new(j, "address", json_string(address));
    json_object_set_new(j, "state", json_string(state));
    json_object_set_new(j, "before", before);
    json_object_set_new(j, "updated_unix_ms", json_integer(rm_wall_ms()));
    char suffix[RM_FLEET_NAME_MAX + 16];
    rm__fleet_fmt(suffix, sizeof suffix, "node/%s", name);
    return jput(f, suffix, j);
}

static void
jstep(struct rm_fleet *f, size_t no, const rm_fleet_step_t *st)
{
    json_t *j = json_pack("{s:s, s:s, s:b, s:s, s:s, s:I}", "node", st->node, "phase", st->phase, "ok", st->ok,
                          "status", st->status, "detail", st->detail, "unix_ms", (json_int_t)rm_wall_ms());
    char suffix[32];
    rm__fleet_fmt(suffix, sizeof suffix, "step/%06zu", no);
    (void)jput(f, suffix, j);
}

static rm_fleet_step_t *
step_add(steps_t *s, const char *node, const char *phase, int ok, const char *status, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static rm_fleet_step_t *
step_add(steps_t *s, const char *node, const char *phase, int ok, const char *status, const char *fmt, ...)
{
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 16;
        rm_fleet_step_t *p = realloc(s->v, nc * sizeof *p);
        if (!p) {
            s->oom = 1;
            return NULL;
        }
        s->v = p;
        s->cap = nc;
    }
    rm_fleet_step_t *st = &s->v[s->n++];
    memset(st, 0, sizeof *st);
    rm__fleet_copy(st->node, sizeof st->node, node);
    rm__fleet_copy(st->phase, sizeof st->phase, phase);
    rm__fleet_copy(st->status, sizeof st->status, status);
    st->ok = ok;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->detail, sizeof st->detail, fmt, ap);
    va_end(ap);
    if (s->jf)
        jstep(s->jf, s->n - 1, st);
    return st;
}

static void
saved_free(saved_t *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->names[i]);
        free(s->values[i]);
    }
    free(s->names);
    free(s->values);
    s->n = 0;
    s->names = s->values = NULL;
}

/*
 * Record the profile's knobs on `n` and apply the profile. Returns 1 when the
 * node changed (sv filled), 0 on failure (step says why; sv empty).
 */
static int
apply_one(struct rm_fleet *f, node_t *n, const rm_fleet_rollout_t *ro, const char *phase, saved_t *sv,
          steps_t *steps, char *reason, size_t reasoncap)
{
    rm_call_status_t st;
    ProtobufCMessage *resp = NULL;
    Rustymem__V1__ApplyProfileRequest ap = RUSTYMEM__V1__APPLY_PROFILE_REQUEST__INIT;
    ap.workload = (Rustymem__V1__Workload)ro->workload;
    ap.environment = (Rustymem__V1__Environment)ro->environment;
    ap.validate_only = 1;
    const char *what = "ApplyProfile(validate_only)";
    grpc_status_code code = rm_client_unary(n->client, APPLY_PROFILE, &ap.base,
                                            &rustymem__v1__set_knobs_response__descriptor, &resp, &st);
    if (code != GRPC_STATUS_OK)
        goto rpc_fail;
    const Rustymem__V1__SetKnobsResponse *plan = (const void *)resp;
    Rustymem__V1__GetKnobsRequest gk = RUSTYMEM__V1__GET_KNOBS_REQUEST__INIT;
    gk.n_names = plan->n_changes;
    gk.names = calloc(plan->n_changes ? plan->n_changes : 1, sizeof *gk.names);
    if (!gk.names) {
        protobuf_c_message_free_unpacked(resp, NULL);
        rm__fleet_fmt(st.message, sizeof st.message, "out of memory");
        code = GRPC_STATUS_RESOURCE_EXHAUSTED;
        goto rpc_fail;
    }
    for (size_t i = 0; i < plan->n_changes; i++)
        gk.names[i] = plan->changes[i]->name;
    ProtobufCMessage *kresp = NULL;
    what = "GetKnobs";
    code = rm_client_unary(n->client, GET_KNOBS, &gk.base, &rustymem__v1__get_knobs_response__descriptor, &kresp,
                           &st);
    free(gk.names);
    protobuf_c_message_free_unpacked(resp, NULL);
    if (code != GRPC_STATUS_OK)
        goto rpc_fail;
    const Rustymem__V1__GetKnobsResponse *kr = (const void *)kresp;
    sv->node = n;
    sv->names = calloc(kr->n_knobs ? kr->n_knobs : 1, sizeof *sv->names);
    sv->values = calloc(kr->n_knobs ? kr->n_knobs : 1, sizeof *sv->values);
    if (!sv->names || !sv->values) {
        protobuf_c_message_free_unpacked(kresp, NULL);
        saved_free(sv);
        rm__fleet_fmt(st.message, sizeof st.message, "out of memory");
        code = GRPC_STATUS_RESOURCE_EXHAUSTED;
        goto rpc_fail;
    }
    for (size_t i = 0; i < kr->n_knobs; i++) {
        sv->names[sv->n] = strdup(kr->knobs[i]->name ? kr->knobs[i]->name : "");
        sv->values[sv->n] = strdup(kr->knobs[i]->value ? kr->knobs[i]->value : "");
        if (!sv->names[sv->n] || !sv->values[sv->n]) {
            free(sv->names[sv->n]);
            free(sv->values[sv->n]);
            protobuf_c_message_free_unpacked(kresp, NULL);
            saved_free(sv);
            rm__fleet_fmt(st.message, sizeof st.message, "out of memory");
            code = GRPC_STATUS_RESOURCE_EXHAUSTED;
            goto rpc_fail;
        }
        sv->n++;
    }
    protobuf_c_message_free_unpacked(kresp, NULL);

    if (f->ha) {
        /* Write-ahead: the before-values are in etcd before the node changes. */
        if (!rm__fleet_may_act(f)) {
            saved_free(sv);
            step_add(steps, n->target.name, phase, 0, "", "not applied: this replica is no longer the leader");
            rm__fleet_fmt(reason, reasoncap, "leadership lost before node %s changed", n->target.name);
            return 0;
        }
        rm_status_t js = jnode(f, n->target.name, n->target.address, "applying", sv->names, sv->values, sv->n);
        if (js != RM_OK) {
            saved_free(sv);
            step_add(steps, n->target.name, phase, 0, "", "not applied: the rollout journal cannot be written (%s)",
                     rm_strerror(js));
            rm__fleet_fmt(reason, reasoncap, "node %s: the rollout journal in etcd cannot be written: %s",
                          n->target.name, rm_strerror(js));
            return 0;
        }
    }
    ap.validate_only = 0;
    what = "ApplyProfile";
    code = rm_client_unary(n->client, APPLY_PROFILE, &ap.base, &rustymem__v1__set_knobs_response__descriptor, &resp,
                           &st);
    if (code != GRPC_STATUS_OK) {
        /* The agent applies all or nothing: a failed call changed nothing we can know of, but an
         * answer lost on the way back may have; restore it with the rest to be safe. */
        step_add(steps, n->target.name, phase, 0, rm_client_status_name(code), "%s: %s", what, st.message);
        rm__fleet_fmt(reason, reasoncap, "node %s: %s failed: %s: %s", n->target.name, what,
                 rm_client_status_name(code), st.message);
        rm__fleet_event(n, "rollout", rm_client_status_name(code), "%s: %s", what, st.message);
        return -1;
    }
    const Rustymem__V1__SetKnobsResponse *done = (const void *)resp;
    size_t changed = 0;
    for (size_t i = 0; i < done->n_changes; i++)
        if (done->changes[i]->old_value && done->changes[i]->new_value &&
            strcmp(done->changes[i]->old_value, done->changes[i]->new_value) != 0)
            changed++;
    step_add(steps, n->target.name, phase, 1, "OK", "profile applied: %zu of %zu knobs changed", changed,
             done->n_changes);
    rm__fleet_event(n, "rollout", "OK", "%s: profile applied (%zu knobs changed)", phase, changed);
    protobuf_c_message_free_unpacked(resp, NULL);
    if (f->ha)
        (void)jnode(f, n->target.name, n->target.address, "applied", sv->names, sv->values, sv->n);
    return 1;

rpc_fail:
    step_add(steps, n->target.name, phase, 0, rm_client_status_name(code), "%s: %s", what, st.message);
    rm__fleet_fmt(reason, reasoncap, "node %s: %s failed: %s: %s", n->target.name, what, rm_client_status_name(code),
             st.message);
    rm__fleet_event(n, "rollout", rm_client_status_name(code), "%s: %s", what, st.message);
    return 0;
}

/* Fresh poll, then the gate. Returns 1 when the node passes. */
static int
gate_one(struct rm_fleet *f, node_t *n, int max_level, char *why, size_t whycap)
{
    rm__fleet_poll(f, n, 0);
    node_view_t v;
    rm__fleet_view(n, &v);
    if (!v.reachable) {
        rm__fleet_fmt(why, whycap, "unreachable: %s", v.last_error);
        return 0;
    }
    if (!v.serving) {
        rm__fleet_fmt(why, whycap, "health is NOT_SERVING");
        return 0;
    }
    if (v.last_error[0]) {
        rm__fleet_fmt(why, whycap, "RPC error: %s", v.last_error);
        return 0;
    }
    if (!v.level || v.level > max_level) {
        rm__fleet_fmt(why, whycap, "pressure level %s (%s) is above the gate's %s", rm_fleet_level_name(v.level),
                 v.level_source, rm_fleet_level_name(max_level));
        return 0;
    }
    rm__fleet_fmt(why, whycap, "SERVING, level %s", rm_fleet_level_name(v.level));
    return 1;
}

/* Sleep `seconds`, checking for cancellation (and, with etcd, leadership) every 100 ms. Returns 1 if cancelled. */
static int
wait_cancellable(struct rm_fleet *f, const rm_fleet_rollout_t *ro, double seconds)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        if (ro->cancelled && ro->cancelled(ro->cancel_ctx))
            return 1;
        if (!rm__fleet_may_act(f))
            return 1;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double el = (double)(now.tv_sec - start.tv_sec) + (double)(now.tv_nsec - start.tv_nsec) / 1e9;
        if (el >= seconds)
            return 0;
        double left = seconds - el;
        struct timespec ts = {0, (long)((left < 0.1 ? left : 0.1) * 1e9)};
        nanosleep(&ts, NULL);
    }
}

/* One atomic SetKnobs of names[i]=values[i] on `c`. */
static grpc_status_code
set_knobs(rm_client_t *c, char **names, char **values, size_t n, rm_call_status_t *st)
{
    Rustymem__V1__SetKnobsRequest req = RUSTYMEM__V1__SET_KNOBS_REQUEST__INIT;
    Rustymem__V1__KnobAssignment *as = calloc(n ? n : 1, sizeof *as);
    Rustymem__V1__KnobAssignment **ap = calloc(n ? n : 1, sizeof *ap);
    if (!as || !ap) {
        free(as);
        free(ap);
        st->code = GRPC_STATUS_RESOURCE_EXHAUSTED;
        rm__fleet_fmt(st->message, sizeof st->message, "out of memory");
        return st->code;
    }
    for (size_t k = 0; k < n; k++) {
        rustymem__v1__knob_assignment__init(&as[k]);
        as[k].name = names[k];
        as[k].value = values[k];
        ap[k] = &as[k];
    }
    req.assignments = ap;
    req.n_assignments = n;
    ProtobufCMessage *resp = NULL;
    grpc_status_code code = rm_client_unary(c, SET_KNOBS, &req.base, &rustymem__v1__set_knobs_response__descriptor,
                                            &resp, st);
    if (code == GRPC_STATUS_OK)
        protobuf_c_message_free_unpacked(resp, NULL);
    free(as);
    free(ap);
    return code;
}

/* Restore every saved node, newest first. Returns how many could not be restored. */
static size_t
rollback(struct rm_fleet *f, saved_t *sv, size_t n_sv, steps_t *steps)
{
    size_t failed = 0;
    for (size_t i = n_sv; i-- > 0;) {
        saved_t *s = &sv[i];
        rm_call_status_t st;
        grpc_status_code code = set_knobs(s->node->client, s->names, s->values, s->n, &st);
        if (code == GRPC_STATUS_OK) {
            step_add(steps, s->node->target.name, "rollback", 1, "OK", "restored %zu knobs with SetKnobs", s->n);
            rm__fleet_event(s->node, "rollback", "OK", "restored %zu knobs", s->n);
            if (f->ha && jnode(f, s->node->target.name, s->node->target.address, "restored", s->names, s->values,
                               s->n) != RM_OK)
                failed++; /* restored, but the journal still says otherwise: recovery repeats it (harmless) */
        } else {
            failed++;
            step_add(steps, s->node->target.name, "rollback", 0, rm_client_status_name(code), "SetKnobs: %s",
                     st.message);
            rm__fleet_event(s->node, "rollback", rm_client_status_name(code), "SetKnobs: %s", st.message);
            rm__fleet_log(f, "ERROR", "rollback of node %s failed: %s: %s", s->node->target.name,
                          rm_client_status_name(code), st.message);
        }
    }
    return failed;
}

/* Start the journal of a rollout: refuse while one is unfinished, clear the last one, write the plan. */
static rm_status_t
journal_begin(struct rm_fleet *f, const rm_fleet_rollout_t *ro, node_t **nodes, size_t nn, size_t batch,
              double canary_wait, double batch_wait, int max_level, json_t **plan_out)
{
    char err[512] = "";
    rm_status_t st;
    json_t *old = jget_plan(f, &st, err, sizeof err);
    if (old) {
        int busy = plan_unfinished(old);
        json_decref(old);
        if (busy)
            return RM_EBUSY; /* the previous leader's rollout is still being rolled back */
    } else if (st != RM_ENOENT && st != RM_ECORRUPT) {
        rm__fleet_log(f, "ERROR", "rollout refused: cannot read the rollout journal: %s", err);
        return RM_EIO;
    }
    char key[256];
    rm__fleet_fmt(key, sizeof key, "%s/rollout/", f->ha->prefix);
    st = rm__etcd_delete(f->ha->etcd, key, 1, f->ha->leader_key, f->ha->id, err, sizeof err);
    if (st != RM_OK) {
        rm__fleet_log(f, "ERROR", "rollout refused: cannot clear the last rollout journal: %s", err);
        return st == RM_ECONFLICT ? RM_ESTATE : RM_EIO;
    }
    json_t *names = json_array();
    for (size_t i = 0; names && i < nn; i++)
        json_array_append_new(names, json_string(nodes[i]->target.name));
    int64_t now = rm_wall_ms();
    char id[64];
    rm__fleet_fmt(id, sizeof id, "%lld", (long long)now);
    json_t *plan = json_pack("{s:s, s:s, s:s, s:i, s:i, s:o, s:I, s:f, s:f, s:i, s:I}", "id", id, "leader",
                             f->ha->id, "state", "running", "workload", ro->workload, "environment", ro->environment,
                             "nodes", names ? names : json_null(), "batch_size", (json_int_t)batch,
                             "canary_wait_seconds", canary_wait, "batch_wait_seconds", batch_wait, "max_level",
                             max_level, "started_unix_ms", (json_int_t)now);
    if (!plan)
        return RM_ENOMEM;
    st = jput(f, "plan", json_incref(plan));
    if (st != RM_OK) {
        json_decref(plan);
        return st == RM_ECONFLICT ? RM_ESTATE : RM_EIO;
    }
    *plan_out = plan;
    return RM_OK;
}

rm_status_t
rm_fleet_apply_profile(rm_fleet_t *f, const rm_fleet_rollout_t *ro, rm_fleet_result_t *res)
{
    memset(res, 0, sizeof *res);
    if (ro->workload < 1 || ro->workload > 3 || ro->environment < 1 || ro->environment > 3)
        return RM_EINVAL;
    if (!rm__fleet_may_act(f))
        return RM_ESTATE; /* a follower: only the leader rolls out */
    if (pthread_mutex_trylock(&f->rollout_mu) != 0)
        return RM_EBUSY;
    node_t **nodes = NULL;
    ssize_t nn = rm__fleet_select(f, &ro->selector, &nodes);
    if (nn <= 0) {
        pthread_mutex_unlock(&f->rollout_mu);
        return nn < 0 ? RM_ENOMEM : RM_ENOENT;
    }
    double canary_wait = ro->canary_wait_seconds > 0 ? ro->canary_wait_seconds : f->o.canary_wait_seconds;
    double batch_wait = ro->batch_wait_seconds > 0 ? ro->batch_wait_seconds : f->o.batch_wait_seconds;
    size_t batch = ro->batch_size ? ro->batch_size : f->o.batch_size;
    int max_level = ro->max_level ? ro->max_level : f->o.gate_max_level;
    saved_t *sv = calloc((size_t)nn, sizeof *sv);
    steps_t steps = {0};
    json_t *plan = NULL;
    rm_status_t rc = RM_OK;
    if (!sv) {
        rc = RM_ENOMEM;
        goto out;
    }
    if (f->ha) {
        rc = journal_begin(f, ro, nodes, (size_t)nn, batch, canary_wait, batch_wait, max_level, &plan);
        if (rc != RM_OK)
            goto out;
        steps.jf = f;
    }
    rm__fleet_log(f, "INFO", "rollout of %d/%d to %zd nodes: canary %s, batches of %zu%s", ro->workload,
                  ro->environment, nn, nodes[0]->target.name, batch,
                  f->ha ? " (journaled in etcd)" : " (not crash-safe: no --etcd)");
    size_t n_sv = 0, next = 0, batch_no = 0;
    char reason[512] = "";
    int lost = 0;
    while (next < (size_t)nn && !reason[0]) {
        size_t take = batch_no == 0 ? 1 : batch;
        char phase[32];
        if (batch_no == 0)
            rm__fleet_fmt(phase, sizeof phase, "canary");
        else
            rm__fleet_fmt(phase, sizeof phase, "batch %zu", batch_no);
        for (size_t k = 0; k < take && next < (size_t)nn; k++, next++) {
            int r = apply_one(f, nodes[next], ro, phase, &sv[n_sv], &steps, reason, sizeof reason);
            if (r != 0)
                n_sv++; /* changed, or maybe changed (-1): restore either way */
            if (r != 1)
                break;
        }
        if (reason[0])
            break;
        if (wait_cancellable(f, ro, batch_no == 0 ? canary_wait : batch_wait)) {
            if (!rm__fleet_may_act(f))
                rm__fleet_fmt(reason, sizeof reason, "leadership lost during the %s wait", phase);
            else
                rm__fleet_fmt(reason, sizeof reason,
                              "the call was cancelled or its deadline passed during the %s wait", phase);
            break;
        }
        /* Gate: every node changed so far must still be healthy. */
        size_t passed = 0;
        for (size_t k = 0; k < n_sv; k++) {
            char why[300];
            if (!gate_one(f, sv[k].node, max_level, why, sizeof why)) {
                step_add(&steps, sv[k].node->target.name, "gate", 0, "", "after %s: %s", phase, why);
                rm__fleet_fmt(reason, sizeof reason, "gate failed after %s: node %s: %s", phase,
                         sv[k].node->target.name, why);
                break;
            }
            passed++;
        }
        if (!reason[0])
            step_add(&steps, "", "gate", 1, "", "after %s: %zu changed nodes SERVING at or below %s", phase, passed,
                     rm_fleet_level_name(max_level));
        batch_no++;
    }
    if (f->ha && !rm__fleet_may_act(f)) {
        /* No longer the leader: touch no agent; the journal has what the next leader needs to roll back. */
        lost = 1;
        char r2[512];
        rm__fleet_fmt(r2, sizeof r2, "%s; this replica lost its etcd leadership, the next leader (or this one, "
                      "once it leads again) rolls back the %zu changed nodes from the journal",
                      reason[0] ? reason : "stopped", n_sv);
        rm__fleet_copy(reason, sizeof reason, r2);
        rm__fleet_log(f, "WARN", "rollout stopped: %s", reason);
        rm__fleet_copy(res->stopped_reason, sizeof res->stopped_reason, reason);
        /* If etcd comes back before the lease expires, this replica still leads: then it rolls back itself. */
        pthread_mutex_lock(&f->ha->mu);
        f->ha->recover_pending = 1;
        pthread_cond_broadcast(&f->ha->cv);
        pthread_mutex_unlock(&f->ha->mu);
    } else if (reason[0]) {
        rm__fleet_log(f, "WARN", "rollout stopped: %s; rolling back %zu nodes", reason, n_sv);
        if (plan)
            (void)jplan_state(f, plan, "rolling_back", reason);
        size_t failed = rollback(f, sv, n_sv, &steps);
        res->rolled_back = 1;
        rm__fleet_copy(res->stopped_reason, sizeof res->stopped_reason, reason);
        if (plan && !failed)
            (void)jplan_state(f, plan, "rolled_back", reason);
        else if (plan) {
            /* the journal keeps "rolling_back": the recovery worker retries the nodes left */
            pthread_mutex_lock(&f->ha->mu);
            f->ha->recover_pending = 1;
            pthread_cond_broadcast(&f->ha->cv);
            pthread_mutex_unlock(&f->ha->mu);
        }
    } else {
        res->completed = 1;
        res->changed = calloc(n_sv ? n_sv : 1, sizeof *res->changed);
        if (res->changed) {
            for (size_t k = 0; k < n_sv; k++)
                rm__fleet_copy(res->changed[k], sizeof res->changed[k], sv[k].node->target.name);
            res->n_changed = n_sv;
        }
        if (plan)
            (void)jplan_state(f, plan, "completed", NULL);
        rm__fleet_log(f, "INFO", "rollout completed on %zu nodes", n_sv);
    }
    (void)lost;
    for (size_t k = 0; k < n_sv; k++)
        saved_free(&sv[k]);
    if (steps.oom)
        rc = RM_ENOMEM;
out:
    json_decref(plan);
    free(sv);
    if (rc == RM_OK) {
        res->steps = steps.v;
        res->n_steps = steps.n;
    } else {
        free(steps.v);
        rm_fleet_result_free(res);
    }
    rm__fleet_release(f, nodes, (size_t)nn);
    pthread_mutex_unlock(&f->rollout_mu);
    return rc;
}

/* ---- recovery of a rollout a previous leader left unfinished ----------------------- */

typedef struct jrec {
    char name[RM_FLEET_NAME_MAX];
    char address[RM_FLEET_ADDR_MAX];
    char state[16];
    size_t n;
    char **names, **values;
} jrec_t;

typedef struct jrecs {
    jrec_t *v;
    size_t n;
    int oom;
    size_t plen;  /* length of "PREFIX/rollout/node/" */
} jrecs_t;

static void
jrec_collect(void *ctx, const char *key, const char *val)
{
    jrecs_t *rs = ctx;
    json_t *j = json_loads(val, 0, NULL);
    json_t *before = json_object_get(j, "before");
    const char *state = json_string_value(json_object_get(j, "state"));
    const char *addr = json_string_value(json_object_get(j, "address"));
    if (!j || !json_is_object(before) || !state || !addr || strlen(key) <= rs->plen) {
        json_decref(j);
        return; /* not a record of ours: never guess */
    }
    jrec_t *p = realloc(rs->v, (rs->n + 1) * sizeof *p);
    if (!p) {
        rs->oom = 1;
        json_decref(j);
        return;
    }
    rs->v = p;
    jrec_t *r = &rs->v[rs->n];
    memset(r, 0, sizeof *r);
    rm__fleet_copy(r->name, sizeof r->name, key + rs->plen);
    rm__fleet_copy(r->address, sizeof r->address, addr);
    rm__fleet_copy(r->state, sizeof r->state, state);
    size_t nk = json_object_size(before);
    r->names = calloc(nk ? nk : 1, sizeof *r->names);
    r->values = calloc(nk ? nk : 1, sizeof *r->values);
    const char *k;
    json_t *v;
    json_object_foreach(before, k, v)
    {
        if (!r->names || !r->values || !json_is_string(v))
            break;
        r->names[r->n] = strdup(k);
        r->values[r->n] = strdup(json_string_value(v));
        if (!r->names[r->n] || !r->values[r->n]) {
            free(r->names[r->n]);
            free(r->values[r->n]);
            rs->oom = 1;
            break;
        }
        r->n++;
    }
    if (!r->names || !r->values)
        rs->oom = 1;
    rs->n++;
    json_decref(j);
}

static void
jrecs_free(jrecs_t *rs)
{
    for (size_t i = 0; i < rs->n; i++) {
        for (size_t k = 0; k < rs->v[i].n; k++) {
            free(rs->v[i].names[k]);
            free(rs->v[i].values[k]);
        }
        free(rs->v[i].names);
        free(rs->v[i].values);
    }
    free(rs->v);
}

/* Restore one recorded node: through the fleet's node of that name, else a channel to the recorded address. */
static grpc_status_code
restore_rec(struct rm_fleet *f, const jrec_t *r, rm_call_status_t *st)
{
    const char *names[1] = {r->name};
    rm_fleet_selector_t sel = {.names = names, .n_names = 1};
    node_t **nodes = NULL;
    ssize_t k = rm__fleet_select(f, &sel, &nodes);
    grpc_status_code code;
    if (k == 1 && strcmp(nodes[0]->target.name, r->name) == 0) {
        code = set_knobs(nodes[0]->client, r->names, r->values, r->n, st);
        if (code == GRPC_STATUS_OK)
            rm__fleet_event(nodes[0], "rollback", "OK", "restored %zu knobs of an interrupted rollout", r->n);
    } else {
        rm_client_opts_t co = {.target = r->address,
                               .timeout_ms = f->o.rpc_timeout_ms,
                               .token = f->o.token,
                               .tls_ca_file = f->o.tls_ca_file,
                               .tls_cert_file = f->o.tls_cert_file,
                               .tls_key_file = f->o.tls_key_file,
                               .tls_server_name = f->o.tls_server_name};
        rm_client_t *c = NULL;
        if (rm_client_create(&co, &c, st->message, sizeof st->message) != RM_OK) {
            st->code = GRPC_STATUS_INVALID_ARGUMENT;
            code = st->code;
        } else {
            code = set_knobs(c, r->names, r->values, r->n, st);
            rm_client_destroy(c);
        }
    }
    if (k > 0)
        rm__fleet_release(f, nodes, (size_t)k);
    return code;
}

rm_status_t
rm__fleet_rollout_recover(struct rm_fleet *f)
{
    if (!f->ha)
        return RM_OK;
    if (pthread_mutex_trylock(&f->rollout_mu) != 0)
        return RM_EBUSY;
    char err[512] = "";
    rm_status_t st;
    json_t *plan = jget_plan(f, &st, err, sizeof err);
    if (!plan || !plan_unfinished(plan)) {
        json_decref(plan);
        pthread_mutex_unlock(&f->rollout_mu);
        if (st == RM_EIO)
            rm__fleet_log(f, "WARN", "cannot read the rollout journal (retrying): %s", err);
        if (st == RM_ECORRUPT)
            rm__fleet_log(f, "ERROR", "the rollout journal is unreadable, nothing recovered: %s", err);
        return st == RM_EIO ? RM_EIO : RM_OK;
    }
    const char *was = json_string_value(json_object_get(plan, "leader"));
    char by[RM_FLEET_NAME_MAX + 64];
    rm__fleet_fmt(by, sizeof by, "controller %s stopped during the rollout; rolled back by %s", was ? was : "?",
                  f->ha->id);
    rm__fleet_log(f, "WARN", "found an unfinished rollout (%s, state %s) in etcd: rolling it back",
                  json_string_value(json_object_get(plan, "id")), json_string_value(json_object_get(plan, "state")));
    st = jplan_state(f, plan, "rolling_back", by);
    jrecs_t rs = {0};
    char prefix[256];
    rm__fleet_fmt(prefix, sizeof prefix, "%s/rollout/node/", f->ha->prefix);
    rs.plen = strlen(prefix);
    if (st == RM_OK)
        st = rm__etcd_list(f->ha->etcd, prefix, jrec_collect, &rs, err, sizeof err);
    if (st == RM_OK && rs.oom)
        st = RM_ENOMEM;
    size_t restored = 0, left = 0;
    for (size_t i = 0; st == RM_OK && i < rs.n; i++) {
        jrec_t *r = &rs.v[i];
        if (strcmp(r->state, "restored") == 0)
            continue;
        if (!rm__fleet_may_act(f)) {
            st = RM_ECONFLICT;
            break;
        }
        rm_call_status_t cs;
        grpc_status_code code = restore_rec(f, r, &cs);
        if (code == GRPC_STATUS_OK &&
            jnode(f, r->name, r->address, "restored", r->names, r->values, r->n) == RM_OK) {
            restored++;
            rm__fleet_log(f, "INFO", "recovery: node %s (%s) restored to its %zu before-values", r->name, r->state,
                          r->n);
        } else {
            left++;
            rm__fleet_log(f, "ERROR", "recovery: node %s not restored yet: %s: %s", r->name,
                          rm_client_status_name(code), cs.message);
        }
    }
    if (st == RM_OK && left == 0) {
        char done[RM_FLEET_NAME_MAX + 160];
        rm__fleet_fmt(done, sizeof done, "%s (%zu nodes restored)", by, restored);
        st = jplan_state(f, plan, "rolled_back", done);
        if (st == RM_OK)
            rm__fleet_log(f, "INFO", "recovery: the interrupted rollout is rolled back (%zu nodes restored)",
                          restored);
    } else if (st == RM_OK) {
        st = RM_EIO;
    }
    jrecs_free(&rs);
    json_decref(plan);
    pthread_mutex_unlock(&f->rollout_mu);
    if (st != RM_OK && st != RM_ECONFLICT)
        return RM_EIO;
    return st;
}

/* ---- TriggerResponse fan-out ---------------------------------------------------- */

typedef struct trig {
    node_t *node;
    int level;
    rm_fleet_step_t step;
} trig_t;

static void *
trigger_one(void *arg)
{
    trig_t *t = arg;
    Rustymem__V1__TriggerResponseRequest req = RUSTYMEM__V1__TRIGGER_RESPONSE_REQUEST__INIT;
    req.level = (Rustymem__V1__PressureLevel)t->level;
    ProtobufCMessage *resp = NULL;
    rm_call_status_t st;
    grpc_status_code code = rm_client_unary(t->node->client, TRIGGER_RESPONSE, &req.base,
                                            &rustymem__v1__action_result__descriptor, &resp, &st);
    rm__fleet_copy(t->step.node, sizeof t->step.node, t->node->target.name);
    rm__fleet_copy(t->step.phase, sizeof t->step.phase, "trigger");
    rm__fleet_copy(t->step.status, sizeof t->step.status, rm_client_status_name(code));
    t->step.ok = code == GRPC_STATUS_OK;
    if (code == GRPC_STATUS_OK) {
        const Rustymem__V1__ActionResult *ar = (const void *)resp;
        rm__fleet_fmt(t->step.detail, sizeof t->step.detail, "%s", ar->summary && *ar->summary ? ar->summary : "done");
        protobuf_c_message_free_unpacked(resp, NULL);
    } else {
        rm__fleet_fmt(t->step.detail, sizeof t->step.detail, "%s", st.message);
    }
    rm__fleet_event(t->node, "trigger_response", t->step.status, "TriggerResponse(%s) by request: %s",
                    rm_fleet_level_name(t->level), t->step.detail);
    return NULL;
}

rm_status_t
rm_fleet_trigger_response(rm_fleet_t *f, const rm_fleet_selector_t *sel, int level, rm_fleet_result_t *res)
{
    memset(res, 0, sizeof *res);
    if (!rm__fleet_may_act(f))
        return RM_ESTATE; /* a follower: only the leader triggers */
    node_t **nodes = NULL;
    ssize_t nn = rm__fleet_select(f, sel, &nodes);
    if (nn <= 0)
        return nn < 0 ? RM_ENOMEM : RM_ENOENT;
    trig_t *t = calloc((size_t)nn, sizeof *t);
    pthread_t *th = calloc((size_t)nn, sizeof *th);
    char *started = calloc((size_t)nn, 1);
    if (!t || !th || !started) {
        free(t);
        free(th);
        free(started);
        rm__fleet_release(f, nodes, (size_t)nn);
        return RM_ENOMEM;
    }
    /* At most 32 calls in flight; each has the channel's deadline. */
    for (size_t base = 0; base < (size_t)nn; base += 32) {
        size_t end = base + 32 < (size_t)nn ? base + 32 : (size_t)nn;
        for (size_t i = base; i < end; i++) {
            t[i].node = nodes[i];
            t[i].level = level;
            if (pthread_create(&th[i], NULL, trigger_one, &t[i]) == 0)
                started[i] = 1;
            else
                trigger_one(&t[i]);
        }
        for (size_t i = base; i < end; i++)
            if (started[i])
                pthread_join(th[i], NULL);
    }
    res->steps = malloc((size_t)nn * sizeof *res->steps);
    rm_status_t rc = RM_OK;
    if (res->steps) {
        for (size_t i = 0; i < (size_t)nn; i++)
            res->steps[i] = t[i].step;
        res->n_steps = (size_t)nn;
        res->completed = 1;
    } else {
        rc = RM_ENOMEM;
    }
    free(t);
    free(th);
    free(started);
    rm__fleet_release(f, nodes, (size_t)nn);
    return rc;
}
