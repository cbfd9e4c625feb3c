#!/usr/bin/env bash
# Roles with bearer tokens, TLS, and mTLS with certificates made here by openssl.
source "$(dirname "$0")/lib.sh"
command -v openssl >/dev/null || fail "openssl is needed"

READER=reader-token-0123456789abcdef
ADMIN=admin-token-0123456789abcdef
cat >"$TMP/auth" <<EOT
# role rules for the test
token reader $READER dashboards
token admin  $ADMIN  oncall
EOT
ctl() { "$RUSTYMEMCTL" --addr "$ADDR" "$@"; }

start_agent --auth-file "$TMP/auth"
expect_exit 0 ctl health
pass "health needs no credentials"
expect_exit 1 ctl stats memory
grep -q "UNAUTHENTICATED" <<<"$ERR" || fail "no token: $ERR"
expect_exit 1 ctl --token wrong-token-0123456789 stats memory
grep -q "UNAUTHENTICATED" <<<"$ERR" || fail "bad token: $ERR"
pass "no token / unknown token -> UNAUTHENTICATED"
expect_exit 0 ctl --token "$READER" stats memory
for cmd in "knobs set pool.min_size=11" "knobs apply-profile oltp production"; do
  # shellcheck disable=SC2086
  expect_exit 1 ctl --token "$READER" $cmd
  grep -q "PERMISSION_DENIED" <<<"$ERR" || fail "reader $cmd: $ERR"
done
/usr/bin/python3 - "$ADDR" "$READER" "$RM_SOURCE_DIR" <<'PY' || fail "reader reached an EmergencyService RPC"
import sys, grpc
addr, token, _ = sys.argv[1:]
ch = grpc.insecure_channel(addr)
for m in ["ForceGarbageCollection", "ClearPlanCache", "KillOrphanedTransactions", "KillLongRunningQueries",
          "CoalesceLargeObjects", "EvictBufferPool", "SetAdmission", "TriggerResponse"]:
    call = ch.unary_unary("/rustymem.v1.EmergencyService/" + m, request_serializer=lambda b: b,
                          response_deserializer=lambda b: b)
    try:
        call(b"", timeout=5, metadata=[("authorization", "Bearer " + token)])
        raise SystemExit(m + " allowed for reader")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.PERMISSION_DENIED, (m, e.code())
PY
pass "reader -> PERMISSION_DENIED on every changing RPC"
RUSTYMEM_TOKEN="$ADMIN" expect_exit 0 ctl knobs set pool.min_size=11
grep -q "AUDIT token:oncall /rustymem.v1.TuningService/SetKnobs pool.min_size: 10 -> 11" "$TMP/agent.log" \
  || fail "audit line lacks the identity"
pass "admin may change, and the audit log names it"
stop_agent

# certificates: a CA, a server certificate for 127.0.0.1, a client certificate
cd "$TMP"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=rustymem test CA" -keyout ca.key -out ca.pem 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile server.ext -out server.pem 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=operator" -keyout client.key -out client.csr 2>/dev/null
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out client.pem 2>/dev/null
cd - >/dev/null

start_agent --tls-cert "$TMP/server.pem" --tls-key "$TMP/server.key"
expect_exit 0 ctl --tls-ca "$TMP/ca.pem" stats memory
expect_exit 1 ctl --timeout 2000 stats memory
pass "TLS: trusted client works, plaintext client fails"
stop_agent

start_agent --tls-cert "$TMP/server.pem" --tls-key "$TMP/server.key" --tls-client-ca "$TMP/ca.pem"
expect_exit 1 ctl --timeout 2000 --tls-ca "$TMP/ca.pem" health
grep -q "UNAVAILABLE" <<<"$ERR" || fail "mTLS without a certificate: $ERR"
expect_exit 0 ctl --tls-ca "$TMP/ca.pem" --tls-cert "$TMP/client.pem" --tls-key "$TMP/client.key" knobs set pool.min_size=12
pass "mTLS: no client certificate cannot connect; a CA-signed one is admin by default"
stop_agent

printf 'cert reader operator\n' >"$TMP/auth2"
start_agent --tls-cert "$TMP/server.pem" --tls-key "$TMP/server.key" --tls-client-ca "$TMP/ca.pem" --auth-file "$TMP/auth2"
M=(--tls-ca "$TMP/ca.pem" --tls-cert "$TMP/client.pem" --tls-key "$TMP/client.key")
expect_exit 0 ctl "${M[@]}" stats memory
expect_exit 1 ctl "${M[@]}" knobs set pool.min_size=13
grep -q "PERMISSION_DENIED" <<<"$ERR" || fail "cert mapped to reader: $ERR"
pass "mTLS: certificate identity mapped to reader"
stop_agent

printf 'token superuser abc\n' >"$TMP/bad_auth"
expect_exit 1 "$RUSTYMEMD" --listen 127.0.0.1:0 --data-dir "$TMP/d3" --auth-file "$TMP/bad_auth"
grep -q "bad_auth:1: role 'superuser'" <<<"$ERR" || fail "auth file error: $ERR"
pass "a bad auth file is refused with file:line"
echo "test_security: all passed"
