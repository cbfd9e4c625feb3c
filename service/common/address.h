/*
 * address.h — check a gRPC address before gRPC core sees it.
 *
 * gRPC core takes a port above 65535 modulo 65536 (127.0.0.1:99999 dials, or
 * binds, port 34463) and accepts a missing port for some schemes, so every
 * address a user gives — a server's --listen, a client's --addr/--agent, the
 * fleet's agent lists — is checked here first and refused with a reason.
 */
#ifndef RUSTYMEM_SERVICE_ADDRESS_H
#define RUSTYMEM_SERVICE_ADDRESS_H

#include <stddef.h>

/*
 * 1 when addr is HOST:PORT, [IPV6]:PORT, unix:PATH or unix-abstract:NAME
 * (clients may also write gRPC's dns:[//AUTHORITY/]HOST:PORT, ipv4:HOST:PORT
 * and ipv6:[IPV6]:PORT), with a decimal PORT in 1..65535 — or 0..65535 when
 * allow_port0 (a server's "any free port"). Else 0, with a one-line reason in
 * why (may be NULL). Pure function; thread-safe.
 */
int rm_address_check(const char *addr, int allow_port0, char *why, size_t why_len);

#endif /* RUSTYMEM_SERVICE_ADDRESS_H */
