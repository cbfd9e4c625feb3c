/*
 * fleet_ha.h — two (or more) rustymem-fleet replicas with one leader, on etcd
 * (docs/adr/0027, docs/fleet.md "Replicas and crash-safe rollouts").
 *
 * Every replica polls the agents and serves the read-only fleet view. One of
 * them — the one that created the leader key `PREFIX/leader` with its lease —
 * rolls out profiles, triggers responses and finishes a rollout a crashed
 * leader left behind. The leader stops acting once TTL − margin has passed
 * since its last successful keepalive was sent, so it has stopped before etcd
 * can expire its lease and let another replica in.
 */
#ifndef RUSTYMEM_FLEET_HA_H
#define RUSTYMEM_FLEET_HA_H

#include <stddef.h>

#include "fleet.h"

typedef struct rm_fleet_ha_opts {
    const char *endpoints;       /* etcd "HOST:PORT[,HOST:PORT…]" (required) */
    const char *prefix;          /* key prefix; NULL = "/rustymem/fleet" */
    const char *id;              /* this replica's identity; NULL = "HOSTNAME/PID" */
    int lease_ttl_s;             /* 0 = 10; 2..300 */
    int timeout_ms;              /* deadline of every etcd call; 0 = 2000 */
    const char *tls_ca_file;     /* TLS to etcd (all may be NULL) */
    const char *tls_cert_file;
    const char *tls_key_file;
} rm_fleet_ha_opts_t;

/*
 * Connect the fleet to etcd and start campaigning. Call after rm_fleet_create
 * and before rm_fleet_start: pollers read the fleet's etcd state unlocked, and
 * must never trigger before it is set. Stop with rm_fleet_ha_stop after
 * rm_fleet_stop and after the FleetService server has stopped.
 * Fails with RM_EINVAL (bad option; err names it) or RM_EIO when etcd cannot
 * be reached at start (err says why). Not thread-safe against itself.
 */
rm_status_t rm_fleet_ha_start(rm_fleet_t *f, const rm_fleet_ha_opts_t *o, char *err, size_t errcap);

/* Stop campaigning; a leader revokes its lease so another replica takes over at once. Idempotent. */
void rm_fleet_ha_stop(rm_fleet_t *f);

/*
 * 1 when this replica may act now (always without etcd). `leader` (cap bytes,
 * may be NULL) receives the current leader's identity as last read ("" unknown).
 */
int rm_fleet_is_leader(rm_fleet_t *f, char *leader, size_t cap);

#endif /* RUSTYMEM_FLEET_HA_H */
