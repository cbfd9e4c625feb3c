/*
 * fleet_etcd.h — the small etcd v3 client rustymem-fleet needs for leader
 * election and the rollout journal (docs/adr/0027). It speaks etcd's gRPC API
 * (third_party/etcd/etcd_rpc.proto, the upstream field numbers) through rm_client,
 * so deadlines, TLS and error reporting are the ones every other call has.
 *
 * Endpoints: "HOST:PORT[,HOST:PORT…]". A call that fails with UNAVAILABLE or
 * DEADLINE_EXCEEDED is retried once on each other endpoint, then reported as
 * RM_EIO with the last error in `err`. Every call is thread-safe.
 *
 * Keys and values are NUL-free strings (our keys are paths, our values JSON).
 */
#ifndef RUSTYMEM_FLEET_ETCD_H
#define RUSTYMEM_FLEET_ETCD_H

#include <stddef.h>
#include <stdint.h>

#include "rm_base.h"

typedef struct rm_etcd rm_etcd_t;

typedef struct rm_etcd_opts {
    const char *endpoints;      /* "HOST:PORT[,HOST:PORT…]" (required) */
    int timeout_ms;             /* deadline of every call; 0 = 2000 */
    const char *tls_ca_file;    /* TLS to etcd when set */
    const char *tls_cert_file;  /* client certificate (etcd --client-cert-auth) */
    const char *tls_key_file;
} rm_etcd_opts_t;

/* RM_OK with *out; RM_EINVAL (bad endpoint list, unreadable TLS file; err says which) or RM_ENOMEM. */
rm_status_t rm__etcd_create(const rm_etcd_opts_t *o, rm_etcd_t **out, char *err, size_t errcap);
void rm__etcd_destroy(rm_etcd_t *e);

/* Value of `key`: RM_OK with *val (malloc'ed, caller frees), RM_ENOENT when absent, RM_EIO. */
rm_status_t rm__etcd_get(rm_etcd_t *e, const char *key, char **val, char *err, size_t errcap);

/* Every key under `prefix`, in key order: fn(ctx, key, value) for each. RM_OK or RM_EIO/RM_ENOMEM. */
rm_status_t rm__etcd_list(rm_etcd_t *e, const char *prefix, void (*fn)(void *ctx, const char *key, const char *val),
                          void *ctx, char *err, size_t errcap);

/*
 * Put `key`=`val` (with `lease`, 0 = none), only when `guard_key` holds
 * exactly `guard_val` (guard_key NULL = unconditionally). RM_OK, RM_ECONFLICT
 * when the guard failed (nothing written), RM_EIO.
 */
rm_status_t rm__etcd_put(rm_etcd_t *e, const char *key, const char *val, int64_t lease, const char *guard_key,
                         const char *guard_val, char *err, size_t errcap);

/* Delete `key` (or every key under it when `prefix`), guarded like rm__etcd_put. */
rm_status_t rm__etcd_delete(rm_etcd_t *e, const char *key, int prefix, const char *guard_key, const char *guard_val,
                            char *err, size_t errcap);

/*
 * Create `key`=`val` with `lease` only if the key does not exist (one Txn:
 * compare create_revision == 0). RM_OK when created; RM_EEXIST when it exists,
 * with *holder (malloc'ed, may be NULL when not wanted) its current value; RM_EIO.
 */
rm_status_t rm__etcd_create_key(rm_etcd_t *e, const char *key, const char *val, int64_t lease, char **holder,
                                char *err, size_t errcap);

/* Grant a lease of `ttl_s` seconds: RM_OK with *id (and *granted_ttl, may be NULL). */
rm_status_t rm__etcd_lease_grant(rm_etcd_t *e, int ttl_s, int64_t *id, int64_t *granted_ttl, char *err,
                                 size_t errcap);
/* One keepalive: RM_OK with *ttl (> 0); RM_ENOENT when the lease has expired or is unknown; RM_EIO. */
rm_status_t rm__etcd_lease_keepalive(rm_etcd_t *e, int64_t id, int64_t *ttl, char *err, size_t errcap);
/* Revoke (keys attached to the lease are deleted). RM_OK, RM_ENOENT, RM_EIO. */
rm_status_t rm__etcd_lease_revoke(rm_etcd_t *e, int64_t id, char *err, size_t errcap);

#endif /* RUSTYMEM_FLEET_ETCD_H */
