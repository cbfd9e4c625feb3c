/*
 * status_map.c — THE one mapping of memcore's rm_status_t codes to gRPC
 * status codes (STYLE.md: "the mapping to gRPC status codes lives in one
 * function in service/"). A handler that fails because a memcore or engine
 * call failed returns rm_rpc_status_from_rm(st); it does not switch on the
 * code itself. A handler that needs a different code for one call site says
 * why next to it and still starts from this map.
 */
#include "rpc.h"

#include "status_name.h"

grpc_status_code
rm_rpc_status_from_rm(rm_status_t st)
{
    switch (st) {
    case RM_OK: return GRPC_STATUS_OK;
    case RM_EINVAL: return GRPC_STATUS_INVALID_ARGUMENT;
    case RM_ENOENT: return GRPC_STATUS_NOT_FOUND;
    case RM_EEXIST: return GRPC_STATUS_ALREADY_EXISTS;
    case RM_ENOMEM:
    case RM_ELIMIT:
    case RM_EREJECTED: return GRPC_STATUS_RESOURCE_EXHAUSTED;
    case RM_EBUSY:
    case RM_ESTATE: return GRPC_STATUS_FAILED_PRECONDITION;
    case RM_ECONFLICT: return GRPC_STATUS_ABORTED;
    case RM_ECANCELED: return GRPC_STATUS_CANCELLED;
    case RM_ETIMEDOUT: return GRPC_STATUS_DEADLINE_EXCEEDED;
    case RM_ENOTSUP: return GRPC_STATUS_UNIMPLEMENTED;
    case RM_ECORRUPT: return GRPC_STATUS_DATA_LOSS;
    case RM_EIO: return GRPC_STATUS_INTERNAL;
    /* gRPC's own definition of RESOURCE_EXHAUSTED names "the entire file
     * system is out of space". Not UNAVAILABLE: that one tells clients (and
     * retry policies) to retry at once, which only adds load while the disk
     * stays full; freeing space is an operator's act, and the message says so */
    case RM_ENOSPC: return GRPC_STATUS_RESOURCE_EXHAUSTED;
    }
    return GRPC_STATUS_UNKNOWN;
}

/*
 * The data plane (SessionService) answers two codes differently, both for a
 * client's retry decision, and otherwise exactly as rm_rpc_status_from_rm():
 *   RM_EBUSY     every engine connection is busy: UNAVAILABLE, the code
 *                clients and retry policies retry on (the management map
 *                says FAILED_PRECONDITION: an object in use is not retried);
 *   RM_ECANCELED the transaction was killed (responder, orphan reaper):
 *                ABORTED, "retry the transaction"; a cancelled query is
 *                refined to CANCELLED by the handler that knows it.
 */
grpc_status_code
rm_rpc_status_from_rm_data(rm_status_t st)
{
    switch (st) {
    case RM_EBUSY: return GRPC_STATUS_UNAVAILABLE;
    case RM_ECANCELED: return GRPC_STATUS_ABORTED;
    default: return rm_rpc_status_from_rm(st);
    }
}

/* The names live in service/common (status_name.c), shared with the client. */
const char *
rm_rpc_status_name(grpc_status_code code)
{
    return rm_grpc_status_name(code);
}
