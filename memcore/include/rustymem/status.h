/*
 * status.h — error codes shared by every memcore module.
 *
 * Fallible functions return rm_status_t: RM_OK (0) on success or a negative
 * code. Results travel through out-parameters. Hot-path allocation functions
 * return NULL instead and say so in their own contract. The service layer maps
 * these codes to gRPC status codes in one place (service/runtime/status_map.c).
 *
 * This file is the codes' one source. Clients that do not include memcore get
 * them through service/common/rm_base.h, which includes a copy of this file
 * that the build makes (service/CMakeLists.txt): keep this header
 * self-contained — standard headers at most, nothing else of memcore.
 */
#ifndef RUSTYMEM_STATUS_H
#define RUSTYMEM_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum rm_status {
    RM_OK        = 0,
    RM_ENOMEM    = -1,  /* memory (or a page source) could not be had */
    RM_EINVAL    = -2,  /* an argument is out of range or malformed */
    RM_ENOENT    = -3,  /* the named object does not exist */
    RM_EBUSY     = -4,  /* the object is in use (pinned, locked, referenced) */
    RM_ELIMIT    = -5,  /* a configured limit (max_size, max_plans, …) is reached */
    RM_EIO       = -6,  /* an I/O operation failed; errno-level detail is in the caller's stats */
    RM_EEXIST    = -7,  /* the object already exists */
    RM_ECORRUPT  = -8,  /* data failed an integrity check (checksum, magic) */
    RM_ENOTSUP   = -9,  /* not supported on this system or in this configuration */
    RM_ECANCELED = -10, /* the operation was cancelled */
    RM_ECONFLICT = -11, /* a concurrent writer won (MVCC write-write conflict) */
    RM_EREJECTED = -12, /* admission control refused the request */
    RM_ESTATE    = -13, /* the object is not in a state that allows the operation */
    RM_ETIMEDOUT = -14, /* a deadline passed */
    RM_ENOSPC    = -15, /* data could not be written for lack of space (ENOSPC, EDQUOT, EFBIG):
                         * the buffer pool keeps such pages dirty in memory; the caller's stats
                         * name the file and the system's reason */
} rm_status_t;

/*
 * Human-readable text for a status ("out of memory"). Never returns NULL;
 * unknown codes give "unknown error". Thread-safe; the string is static.
 */
const char *rm_strerror(int status);

/*
 * Symbolic name of a status ("RM_ENOMEM"). Never returns NULL; unknown codes
 * give "RM_EUNKNOWN". Thread-safe; the string is static.
 */
const char *rm_err_name(int status);

#ifdef __cplusplus
}
#endif
#endif /* RUSTYMEM_STATUS_H */
