/*
 * status_name.h — the names of gRPC status codes, shared by the server
 * runtime (audit lines, logs) and the client library (CLI errors, metrics
 * labels), so both spell a code the same way.
 */
#ifndef RUSTYMEM_SERVICE_STATUS_NAME_H
#define RUSTYMEM_SERVICE_STATUS_NAME_H

#include <grpc/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * "OK", "INVALID_ARGUMENT", … "UNAUTHENTICATED" for a gRPC status code;
 * "UNKNOWN" for a code outside 0..16. Never NULL; the string is static.
 * Thread-safe.
 */
const char *rm_grpc_status_name(grpc_status_code code);

#ifdef __cplusplus
}
#endif
#endif /* RUSTYMEM_SERVICE_STATUS_NAME_H */
