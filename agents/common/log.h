/*
 * log.h — the daemons' log lines on stderr: "2026-11-24T16:30:00.123Z LEVEL msg"
 * (UTC, milliseconds). Used by rustymemd, rustymem-fleet and rustymem-exporter
 * (memcore never logs; the daemons do). gRPC's own log output is routed here.
 *
 * LEVEL is a short word: ERROR, WARN, INFO, DEBUG, or AUDIT (a change made or
 * refused on a caller's behalf). Thread-safe: every call writes one line.
 */
#ifndef RUSTYMEM_AGENT_LOG_H
#define RUSTYMEM_AGENT_LOG_H

#include <stddef.h>

/* One line on stderr; control characters, DEL and invalid UTF-8 in the
 * message are written as \xNN (rm_log_escape), so a line stays one line of text.
 * A message longer than about 1 400 bytes is cut. */
void rm_log(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Copy src into dst (cap bytes, NUL-terminated) with those bytes escaped. */
void rm_log_escape(char *dst, size_t cap, const char *src);
/* Route gRPC core's log lines through rm_log as "grpc FILE:LINE: message"
 * (errors only, unless verbose: then informational lines too). Call once at
 * start-up, before the first gRPC call. */
void rm_log_route_grpc(int verbose);

#endif /* RUSTYMEM_AGENT_LOG_H */
