/*
 * tls.c — the server's transport security: TLS and mTLS credentials from the
 * PEM files named in rm_server_opts_t, and the verified identity of an mTLS
 * client certificate. Bearer tokens and roles are auth.c's; this file only
 * says who the transport proved the peer to be.
 *
 * Design note: gRPC's SSL credentials (OpenSSL underneath) do the handshake
 * and verification. With a client CA the server requests AND requires a
 * verified client certificate, so a call that reaches a handler under mTLS
 * always has a peer identity; without one no client certificate is asked for.
 */
#include "server_internal.h"

#include <grpc/grpc_security.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "file.h"

grpc_server_credentials *
rm__tls_server_credentials(const rm_server_opts_t *o, char *err, size_t errcap)
{
    if (!o->tls_cert_file && !o->tls_key_file)
        return grpc_insecure_server_credentials_create();
    if (!o->tls_cert_file || !o->tls_key_file) {
        snprintf(err, errcap, "TLS needs both a certificate (--tls-cert) and a key (--tls-key)");
        return NULL;
    }
    char *cert = rm_file_read_all(o->tls_cert_file, err, errcap);
    char *key = cert ? rm_file_read_all(o->tls_key_file, err, errcap) : NULL;
    char *ca = key && o->tls_client_ca_file ? rm_file_read_all(o->tls_client_ca_file, err, errcap) : NULL;
    grpc_server_credentials *creds = NULL;
    if (cert && key && (!o->tls_client_ca_file || ca)) {
        grpc_ssl_pem_key_cert_pair pair = {.private_key = key, .cert_chain = cert};
        creds = grpc_ssl_server_credentials_create_ex(
            ca, &pair, 1,
            ca ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
               : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
            NULL);
        if (!creds)
            snprintf(err, errcap, "gRPC rejected the TLS certificate or key");
    }
    free(cert);
    free(key);
    free(ca);
    return creds;
}

void
rm__tls_peer_identity(grpc_call *call, char *out, size_t cap)
{
    grpc_auth_context *actx = grpc_call_auth_context(call);
    if (!actx)
        return;
    grpc_auth_property_iterator it = grpc_auth_context_peer_identity(actx);
    const grpc_auth_property *p = grpc_auth_property_iterator_next(&it);
    if (p && p->value) {
        size_t n = p->value_length < cap - 1 ? p->value_length : cap - 1;
        memcpy(out, p->value, n);
        out[n] = '\0';
    }
    grpc_auth_context_release(actx);
}
