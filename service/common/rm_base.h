/*
 * rm_base.h — rustymem's status codes for the parts above memcore that do not
 * link it: the client library and every client (rustymemctl, the exporter,
 * rustymem-load, the fleet's client side), and the gRPC runtime.
 *
 * The codes are memcore's (memcore/include/rustymem/status.h), the one error
 * convention of the project (STYLE.md): RM_OK = 0, negative codes. This
 * header repeats them so that a client compiles against service/common alone,
 * without memcore's include directory and without linking librustymem.
 *
 * How the two headers coexist: this header defines the codes under memcore's
 * own include guard, RUSTYMEM_STATUS_H. Whichever of the two a file includes
 * first defines them; the other is then skipped. Both declare exactly the same
 * enum and prototypes, so the order never matters — keep it so: a code added to
 * one is added to the other in the same commit (test_client_alone compares
 * every value of the two, in two translation units).
 *
 * rm_strerror() and rm_err_name() are declared for files that include both
 * headers (a server's handlers, the fleet); they are defined in memcore, so a
 * program that calls them links librustymem. Clients use only the codes.
 */
#ifndef RUSTYMEM_SERVICE_RM_BASE_H
#define RUSTYMEM_SERVICE_RM_BASE_H

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

#endif /* RUSTYMEM_SERVICE_RM_BASE_H */
