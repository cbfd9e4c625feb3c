/*
 * log.h — rustymemd's log lines on stderr: "2026-11-24T16:30:00.123Z LEVEL msg".
 * (memcore never logs; the agent does.) gRPC's own log output is routed here.
 */
#ifndef RUSTYMEM_NODE_LOG_H
#define RUSTYMEM_NODE_LOG_H

#include <stddef.h>

/* One line on stderr; control characters, DEL and invalid UTF-8 in the
 * message are written as \xNN (rm_log_escape), so a line stays one line of text. */
void rm_log(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Copy src into dst (cap bytes, NUL-terminated) with those bytes escaped. */
void rm_log_escape(char *dst, size_t cap, const char *src);
/* Route gRPC core's log lines through rm_log (errors only, unless verbose). */
void rm_log_route_grpc(int verbose);

#endif /* RUSTYMEM_NODE_LOG_H */
