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
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fleet_internal.h"
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
} steps_t;

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
    (void)f;
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

/* Sleep `seconds`, checking for cancellation every 100 ms. Returns 1 if cancelled. */
static int
wait_cancellable(const rm_fleet_rollout_t *ro, double seconds)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        if (ro->cancelled && ro->cancelled(ro->cancel_ctx))
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

static void
rollback(struct rm_fleet *f, saved_t *sv, size_t n_sv, steps_t *steps)
{
    for (size_t i = n_sv; i-- > 0;) {
        saved_t *s = &sv[i];
        Rustymem__V1__SetKnobsRequest req = RUSTYMEM__V1__SET_KNOBS_REQUEST__INIT;
        Rustymem__V1__KnobAssignment *as = calloc(s->n ? s->n : 1, sizeof *as);
        Rustymem__V1__KnobAssignment **ap = calloc(s->n ? s->n : 1, sizeof *ap);
        if (!as || !ap) {
            free(as);
            free(ap);
            step_add(steps, s->node->target.name, "rollback", 0, "RESOURCE_EXHAUSTED", "out of memory");
            continue;
        }
        for (size_t k = 0; k < s->n; k++) {
            rustymem__v1__knob_assignment__init(&as[k]);
            as[k].name = s->names[k];
            as[k].value = s->values[k];
            ap[k] = &as[k];
        }
        req.assignments = ap;
        req.n_assignments = s->n;
        ProtobufCMessage *resp = NULL;
        rm_call_status_t st;
        grpc_status_code code = rm_client_unary(s->node->client, SET_KNOBS, &req.base,
                                                &rustymem__v1__set_knobs_response__descriptor, &resp, &st);
        if (code == GRPC_STATUS_OK) {
            step_add(steps, s->node->target.name, "rollback", 1, "OK", "restored %zu knobs with SetKnobs", s->n);
            rm__fleet_event(s->node, "rollback", "OK", "restored %zu knobs", s->n);
            protobuf_c_message_free_unpacked(resp, NULL);
        } else {
            step_add(steps, s->node->target.name, "rollback", 0, rm_client_status_name(code), "SetKnobs: %s",
                     st.message);
            rm__fleet_event(s->node, "rollback", rm_client_status_name(code), "SetKnobs: %s", st.message);
            rm__fleet_log(f, "ERROR", "rollback of node %s failed: %s: %s", s->node->target.name,
                          rm_client_status_name(code), st.message);
        }
        free(as);
        free(ap);
    }
}

rm_status_t
rm_fleet_apply_profile(rm_fleet_t *f, const rm_fleet_rollout_t *ro, rm_fleet_result_t *res)
{
    memset(res, 0, sizeof *res);
    if (ro->workload < 1 || ro->workload > 3 || ro->environment < 1 || ro->environment > 3)
        return RM_EINVAL;
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
    rm_status_t rc = RM_OK;
    if (!sv) {
        rc = RM_ENOMEM;
        goto out;
    }
    rm__fleet_log(f, "INFO", "rollout of %d/%d to %zd nodes: canary %s, batches of %zu", ro->workload,
                  ro->environment, nn, nodes[0]->target.name, batch);
    size_t n_sv = 0, next = 0, batch_no = 0;
    char reason[512] = "";
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
        if (wait_cancellable(ro, batch_no == 0 ? canary_wait : batch_wait)) {
            rm__fleet_fmt(reason, sizeof reason, "the call was cancelled or its deadline passed during the %s wait",
                     phase);
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
    if (reason[0]) {
        rm__fleet_log(f, "WARN", "rollout stopped: %s; rolling back %zu nodes", reason, n_sv);
        rollback(f, sv, n_sv, &steps);
        res->rolled_back = 1;
        rm__fleet_copy(res->stopped_reason, sizeof res->stopped_reason, reason);
    } else {
        res->completed = 1;
        res->changed = calloc(n_sv ? n_sv : 1, sizeof *res->changed);
        if (res->changed) {
            for (size_t k = 0; k < n_sv; k++)
                rm__fleet_copy(res->changed[k], sizeof res->changed[k], sv[k].node->target.name);
            res->n_changed = n_sv;
        }
        rm__fleet_log(f, "INFO", "rollout completed on %zu nodes", n_sv);
    }
    for (size_t k = 0; k < n_sv; k++)
        saved_free(&sv[k]);
    if (steps.oom)
        rc = RM_ENOMEM;
out:
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
