/*
 * log.h — rustymemd's log lines on stderr: "2026-11-24T16:30:00.123Z LEVEL msg".
 * (memcore never logs; the agent does.) gRPC's own log output is routed here.
 */
#ifndef RUSTYMEM_NODE_LOG_H
#define RUSTYMEM_NODE_LOG_H

void rm_log(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Route gRPC core's log lines through rm_log (errors only, unless verbose). */
void rm_log_route_grpc(int verbose);

#endif /* RUSTYMEM_NODE_LOG_H */
