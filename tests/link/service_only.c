/*
 * service_only.c — the management plane links with memcore alone
 * (docs/adr/0018). Built against rm_service + rustymem + rm_proto and nothing
 * else (no rm_engine, no rm_node): rm_node_services() references every
 * handler, so one handler still calling the engine or the daemon fails this
 * link. At run time it serves every service over an empty host (no data
 * plane) on 127.0.0.1:0, checks the port and stops. Exit 0 = pass.
 */
#include <stdio.h>

#include "host.h"
#include "server.h"

int
main(void)
{
    const rm_rpc_service_t *svcs[16];
    int n = rm_node_services(svcs, 16);
    if (n <= 0) {
        fprintf(stderr, "service_only: rm_node_services: %d\n", n);
        return 1;
    }
    rm_host_t host = {.node_name = "service-only", .version = "link"};
    rm_server_opts_t o = {.listen = "127.0.0.1:0", .cq_threads = 1, .shutdown_grace_ms = 1000, .app = &host};
    rm_server_t *srv = NULL;
    char err[256] = "";
    if (rm_server_create(&o, svcs, (size_t)n, &srv, err, sizeof err) != RM_OK) {
        fprintf(stderr, "service_only: rm_server_create: %s\n", err);
        rm_node_services_free(svcs, (size_t)n);
        return 1;
    }
    int rc = 0;
    if (rm_server_start(srv) != RM_OK) {
        fprintf(stderr, "service_only: rm_server_start failed\n");
        rc = 1;
    } else {
        int port = rm_server_port(srv);
        if (port <= 0 || port > 65535) {
            fprintf(stderr, "service_only: port %d after start on 127.0.0.1:0\n", port);
            rc = 1;
        } else {
            printf("service_only: %d services served on 127.0.0.1:%d with no data plane\n", n, port);
        }
        rm_server_shutdown(srv);
    }
    rm_server_wait(srv);
    rm_server_destroy(srv);
    rm_node_services_free(svcs, (size_t)n);
    return rc;
}
