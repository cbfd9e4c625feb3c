/*
 * fleet_leader.c — leader election on an etcd lease and the worker that
 * finishes a rollout a previous leader left unfinished (fleet_ha.h,
 * docs/adr/0027).
 *
 * The lease thread, every tick (TTL/3, at most 1 s):
 *   no lease      → LeaseGrant(TTL)
 *   not leader    → campaign: Txn "if create_revision(PREFIX/leader) == 0 then
 *                   put(PREFIX/leader, ID, lease) else get" — the standard
 *                   etcd election; a follower sees the holder and retries on
 *                   the next tick (the key disappears when the holder's lease
 *                   expires or is revoked)
 *   always        → LeaseKeepAlive; the time the request was SENT becomes
 *                   lease_ok when it succeeds; an expired lease (TTL 0) or a
 *                   leader key that no longer holds our ID ends leadership
 * rm__fleet_may_act() is true only while we lead and now − lease_ok < TTL −
 * margin: etcd counts the TTL from when it received the keepalive, later than
 * we sent it, so we stop first even when etcd is unreachable.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fleet_etcd.h"
#include "fleet_ha.h"
#include "fleet_internal.h"
#include "rm_clock.h"

int
rm__fleet_may_act(struct rm_fleet *f)
{
    rm_fleet_ha_t *ha = f->ha;
    if (!ha)
        return 1;
    pthread_mutex_lock(&ha->mu);
    int ok = ha->leader && rm_mono_ms() - ha->lease_ok_mono_ms < (int64_t)ha->ttl_s * 1000 - ha->margin_ms;
    pthread_mutex_unlock(&ha->mu);
    return ok;
}

int
rm_fleet_is_leader(rm_fleet_t *f, char *leader, size_t cap)
{
    if (leader && cap) {
        leader[0] = '\0';
        if (f->ha) {
            pthread_mutex_lock(&f->ha->mu);
            rm__fleet_copy(leader, cap, f->ha->holder);
            pthread_mutex_unlock(&f->ha->mu);
        }
    }
    return rm__fleet_may_act(f);
}

/* Wait up to ms or until stop; returns 1 when stopping. */
static int
ha_sleep(rm_fleet_ha_t *ha, int ms)
{
    struct timespec ts;
    rm_deadline_ts(CLOCK_REALTIME, ms, &ts);
    pthread_mutex_lock(&ha->mu);
    while (!ha->stop && pthread_cond_timedwait(&ha->cv, &ha->mu, &ts) != ETIMEDOUT) {
    }
    int stop = ha->stop;
    pthread_mutex_unlock(&ha->mu);
    return stop;
}

static void
step_down(struct rm_fleet *f, rm_fleet_ha_t *ha, const char *why)
{
    pthread_mutex_lock(&ha->mu);
    int was = ha->leader;
    ha->leader = 0;
    pthread_mutex_unlock(&ha->mu);
    if (was)
        rm__fleet_log(f, "WARN", "leadership lost: %s; no more rollouts or triggers from this replica", why);
}

static void *
lease_main(void *arg)
{
    struct rm_fleet *f = arg;
    rm_fleet_ha_t *ha = f->ha;
    int tick = ha->ttl_s * 1000 / 3;
    if (tick > 1000)
        tick = 1000;
    char err[512];
    int warned = 0;
    do {
        pthread_mutex_lock(&ha->mu);
        int64_t lease = ha->lease;
        int leader = ha->leader;
        pthread_mutex_unlock(&ha->mu);
        if (!lease) {
            int64_t id = 0, ttl = 0;
            int64_t sent = rm_mono_ms();
            if (rm__etcd_lease_grant(ha->etcd, ha->ttl_s, &id, &ttl, err, sizeof err) != RM_OK) {
                if (!warned++)
                    rm__fleet_log(f, "WARN", "cannot get an etcd lease (retrying every %d ms): %s", tick, err);
                continue;
            }
            warned = 0;
            pthread_mutex_lock(&ha->mu);
            ha->lease = lease = id;
            ha->lease_ok_mono_ms = sent;
            pthread_mutex_unlock(&ha->mu);
        } else {
            int64_t ttl = 0, sent = rm_mono_ms();
            rm_status_t st = rm__etcd_lease_keepalive(ha->etcd, lease, &ttl, err, sizeof err);
            if (st == RM_OK) {
                pthread_mutex_lock(&ha->mu);
                ha->lease_ok_mono_ms = sent;
                pthread_mutex_unlock(&ha->mu);
                warned = 0;
            } else if (st == RM_ENOENT) {
                step_down(f, ha, err);
                pthread_mutex_lock(&ha->mu);
                ha->lease = 0;
                pthread_mutex_unlock(&ha->mu);
                continue;
            } else {
                /* etcd unreachable: keep trying; rm__fleet_may_act() turns false on its own in time */
                if (!warned++)
                    rm__fleet_log(f, "WARN", "etcd keepalive failed: %s", err);
                if (leader && !rm__fleet_may_act(f))
                    step_down(f, ha, "no successful keepalive within the lease TTL minus the margin");
                continue;
            }
        }
        /* campaign, or check that the key is still ours */
        char *holder = NULL;
        rm_status_t st;
        if (!leader)
            st = rm__etcd_create_key(ha->etcd, ha->leader_key, ha->id, lease, &holder, err, sizeof err);
        else
            st = rm__etcd_get(ha->etcd, ha->leader_key, &holder, err, sizeof err);
        if (st == RM_EIO) {
            if (!warned++)
                rm__fleet_log(f, "WARN", "etcd: %s", err);
            free(holder);
            continue;
        }
        int ours = st == RM_OK && !leader; /* created it */
        if (holder && strcmp(holder, ha->id) == 0)
            ours = 1; /* ours already (a retried create, or the check) */
        if (leader && !ours) {
            step_down(f, ha, "the leader key no longer holds this replica's identity");
        } else if (!leader && ours) {
            pthread_mutex_lock(&ha->mu);
            ha->leader = 1;
            ha->recover_pending = 1;
            pthread_cond_broadcast(&ha->cv);
            pthread_mutex_unlock(&ha->mu);
            rm__fleet_log(f, "INFO", "became the leader (%s, lease %llx, TTL %d s): rollouts and triggers run here",
                          ha->id, (unsigned long long)lease, ha->ttl_s);
        }
        pthread_mutex_lock(&ha->mu);
        if (ours)
            rm__fleet_copy(ha->holder, sizeof ha->holder, ha->id);
        else if (holder && strcmp(holder, ha->holder) != 0) {
            rm__fleet_copy(ha->holder, sizeof ha->holder, holder);
            pthread_mutex_unlock(&ha->mu);
            rm__fleet_log(f, "INFO", "following the leader %s", holder);
            pthread_mutex_lock(&ha->mu);
        } else if (!holder)
            ha->holder[0] = '\0';
        pthread_mutex_unlock(&ha->mu);
        free(holder);
    } while (!ha_sleep(ha, tick));
    return NULL;
}

/* Finishes a rollout the previous leader left unfinished, each time this replica becomes the leader. */
static void *
work_main(void *arg)
{
    struct rm_fleet *f = arg;
    rm_fleet_ha_t *ha = f->ha;
    for (;;) {
        pthread_mutex_lock(&ha->mu);
        while (!ha->stop && !(ha->recover_pending && ha->leader))
            pthread_cond_wait(&ha->cv, &ha->mu);
        int stop = ha->stop;
        pthread_mutex_unlock(&ha->mu);
        if (stop)
            break;
        if (!rm__fleet_may_act(f)) {
            if (ha_sleep(ha, 200))
                break;
            continue;
        }
        rm_status_t st = rm__fleet_rollout_recover(f);
        if (st == RM_OK || st == RM_ECONFLICT) {
            pthread_mutex_lock(&ha->mu);
            ha->recover_pending = 0;
            pthread_mutex_unlock(&ha->mu);
        } else if (ha_sleep(ha, 1000)) {
            break; /* unreachable node or etcd: try again */
        }
    }
    return NULL;
}

rm_status_t
rm_fleet_ha_start(rm_fleet_t *f, const rm_fleet_ha_opts_t *o, char *err, size_t errcap)
{
    if (f->ha)
        return RM_EINVAL;
    int ttl = o->lease_ttl_s ? o->lease_ttl_s : 10;
    if (ttl < 2 || ttl > 300) {
        rm__fleet_fmt(err, errcap, "--etcd-lease-ttl %d: expected 2..300 seconds", ttl);
        return RM_EINVAL;
    }
    const char *prefix = o->prefix ? o->prefix : "/rustymem/fleet";
    if (prefix[0] != '/' || strlen(prefix) >= 160 || prefix[strlen(prefix) - 1] == '/') {
        rm__fleet_fmt(err, errcap, "--etcd-prefix %s: expected an absolute key path without a trailing '/'",
                      prefix);
        return RM_EINVAL;
    }
    char id[RM_FLEET_NAME_MAX];
    if (o->id && *o->id) {
        if (strlen(o->id) >= sizeof id) {
            rm__fleet_fmt(err, errcap, "--etcd-id: longer than %zu bytes", sizeof id - 1);
            return RM_EINVAL;
        }
        rm__fleet_copy(id, sizeof id, o->id);
    } else {
        char host[64] = "";
        if (gethostname(host, sizeof host) != 0 || !host[0])
            rm__fleet_copy(host, sizeof host, "localhost");
        host[sizeof host - 1] = '\0';
        rm__fleet_fmt(id, sizeof id, "%s/%ld", host, (long)getpid());
    }
    rm_fleet_ha_t *ha = calloc(1, sizeof *ha);
    if (!ha)
        return RM_ENOMEM;
    rm_etcd_opts_t eo = {.endpoints = o->endpoints,
                         .timeout_ms = o->timeout_ms,
                         .tls_ca_file = o->tls_ca_file,
                         .tls_cert_file = o->tls_cert_file,
                         .tls_key_file = o->tls_key_file};
    rm_status_t st = rm__etcd_create(&eo, &ha->etcd, err, errcap);
    if (st != RM_OK) {
        free(ha);
        return st;
    }
    rm__fleet_copy(ha->prefix, sizeof ha->prefix, prefix);
    rm__fleet_copy(ha->id, sizeof ha->id, id);
    rm__fleet_fmt(ha->leader_key, sizeof ha->leader_key, "%s/leader", prefix);
    ha->ttl_s = ttl;
    /* stop acting at TTL − margin: a fifth of the TTL, at least 1 s */
    ha->margin_ms = ttl * 200 < 1000 ? 1000 : ttl * 200;
    pthread_mutex_init(&ha->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_cond_init(&ha->cv, &ca);
    pthread_condattr_destroy(&ca);
    /* etcd must answer at start: a wrong endpoint is a start-up error, not a silent follower */
    char *v = NULL;
    st = rm__etcd_get(ha->etcd, ha->leader_key, &v, err, errcap);
    free(v);
    if (st != RM_OK && st != RM_ENOENT) {
        rm__etcd_destroy(ha->etcd);
        pthread_mutex_destroy(&ha->mu);
        pthread_cond_destroy(&ha->cv);
        free(ha);
        return RM_EIO;
    }
    f->ha = ha;
    if (pthread_create(&ha->lease_thread, NULL, lease_main, f) != 0) {
        f->ha = NULL;
        rm__etcd_destroy(ha->etcd);
        free(ha);
        rm__fleet_fmt(err, errcap, "cannot start the etcd lease thread");
        return RM_ENOMEM;
    }
    if (pthread_create(&ha->work_thread, NULL, work_main, f) != 0) {
        pthread_mutex_lock(&ha->mu);
        ha->stop = 1;
        pthread_cond_broadcast(&ha->cv);
        pthread_mutex_unlock(&ha->mu);
        pthread_join(ha->lease_thread, NULL);
        f->ha = NULL;
        rm__etcd_destroy(ha->etcd);
        free(ha);
        rm__fleet_fmt(err, errcap, "cannot start the rollout recovery thread");
        return RM_ENOMEM;
    }
    ha->threads_started = 1;
    rm__fleet_log(f, "INFO", "campaigning for %s on etcd %s as %s (lease TTL %d s, acting stops %d ms before it)",
                  ha->leader_key, o->endpoints, ha->id, ttl, ha->margin_ms);
    return RM_OK;
}

void
rm_fleet_ha_stop(rm_fleet_t *f)
{
    rm_fleet_ha_t *ha = f->ha;
    if (!ha)
        return;
    pthread_mutex_lock(&ha->mu);
    ha->stop = 1;
    pthread_cond_broadcast(&ha->cv);
    pthread_mutex_unlock(&ha->mu);
    if (ha->threads_started) {
        pthread_join(ha->lease_thread, NULL);
        pthread_join(ha->work_thread, NULL);
    }
    /* Rollouts hold rollout_mu and check rm__fleet_may_act: wait for a running one to notice. */
    pthread_mutex_lock(&ha->mu);
    int was_leader = ha->leader;
    ha->leader = 0;
    int64_t lease = ha->lease;
    pthread_mutex_unlock(&ha->mu);
    pthread_mutex_lock(&f->rollout_mu);
    pthread_mutex_unlock(&f->rollout_mu);
    if (lease) {
        char err[512];
        if (rm__etcd_lease_revoke(ha->etcd, lease, err, sizeof err) == RM_OK) {
            if (was_leader)
                rm__fleet_log(f, "INFO", "resigned leadership (lease revoked)");
        } else {
            rm__fleet_log(f, "WARN", "cannot revoke the etcd lease (it expires in %d s): %s", ha->ttl_s, err);
        }
    }
    f->ha = NULL;
    rm__etcd_destroy(ha->etcd);
    pthread_mutex_destroy(&ha->mu);
    pthread_cond_destroy(&ha->cv);
    free(ha);
}
