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
grep -q "AUDIT token:oncall /rustymem.v1.TuningService/SetKnobs pool.min_size: 10 -> 11 peer=ipv4:127.0.0.1:[0-9]" \
  "$TMP/agent.log" || fail "audit line lacks the identity or the peer"
pass "admin may change, and the audit log names it and the peer"
grep -q "AUDIT anonymous /rustymem.v1.MemoryService/GetMemoryStats denied UNAUTHENTICATED: .* peer=ipv4:127.0.0.1:[0-9]" \
  "$TMP/agent.log" || fail "a call without credentials is not audited with its peer"
grep -q "AUDIT token:dashboards /rustymem.v1.TuningService/SetKnobs denied PERMISSION_DENIED: .* peer=ipv4:127.0.0.1:[0-9]" \
  "$TMP/agent.log" || fail "the reader's refused SetKnobs is not audited with principal and peer"
grep -q "AUDIT token:dashboards /rustymem.v1.EmergencyService/ForceGarbageCollection denied PERMISSION_DENIED" \
  "$TMP/agent.log" || fail "a refused EmergencyService call (Python client) is not audited"
! grep "AUDIT" "$TMP/agent.log" | grep -v " peer=" || fail "an audit line without peer="
grep -q "$READER\|$ADMIN" "$TMP/agent.log" && fail "a secret reached the log"
pass "refused calls are audited with principal and peer; every audit line carries peer=; no secret in the log"
stop_agent

# open mode on loopback: the audit line still says where the call came from
start_agent
expect_exit 0 ctl gc
grep -q "AUDIT anonymous /rustymem.v1.EmergencyService/ForceGarbageCollection .* peer=ipv4:127.0.0.1:[0-9]" \
  "$TMP/agent.log" || fail "open-mode audit line lacks the peer"
pass "open mode (loopback, no auth file): audit lines carry the peer"
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

# auth files fail closed: duplicates, NUL bytes, nothing granted; loose modes warn
FLEETD="$RM_BUILD_DIR/agents/fleet/rustymem-fleet"
printf 'token reader %s a\n# rotated\ntoken admin %s b\n' "$READER" "$READER" >"$TMP/dup_auth"
printf 'token reader reader-token-0123456789abcdef a\ncert admin operator\ncert reader operator\n' >"$TMP/dupcert_auth"
printf 'token admin admin-token-01234567\000ignored-tail a\n' >"$TMP/nul_auth"
printf '# nothing yet\n' >"$TMP/none_auth"
printf 'token admin %s oncall extra-field\n' "$ADMIN" >"$TMP/extra_auth"
chmod 600 "$TMP"/*_auth
for bin in "$RUSTYMEMD --data-dir $TMP/d3" "$FLEETD --agents 127.0.0.1:1"; do
  # shellcheck disable=SC2086
  set -- $bin
  expect_exit 1 "$@" --listen 127.0.0.1:0 --auth-file "$TMP/dup_auth"
  grep -q "dup_auth:3: this token is already on line 1" <<<"$ERR" || fail "$1: duplicate token: $ERR"
  grep -q "$READER" <<<"$ERR" && fail "$1: the duplicate message shows the secret"
  expect_exit 1 "$@" --listen 127.0.0.1:0 --auth-file "$TMP/dupcert_auth"
  grep -q "dupcert_auth:3: this certificate identity is already on line 2" <<<"$ERR" || fail "$1: duplicate cert: $ERR"
  expect_exit 1 "$@" --listen 127.0.0.1:0 --auth-file "$TMP/nul_auth"
  grep -q "nul_auth:1: contains a NUL byte" <<<"$ERR" || fail "$1: NUL byte: $ERR"
  expect_exit 1 "$@" --listen 127.0.0.1:0 --auth-file "$TMP/none_auth"
  grep -q "none_auth grants nothing" <<<"$ERR" || fail "$1: comment-only file: $ERR"
  expect_exit 1 "$@" --listen 127.0.0.1:0 --auth-file "$TMP/extra_auth"
  grep -q "extra_auth:1: expected 'token ROLE SECRET \[NAME\]'" <<<"$ERR" || fail "$1: extra field: $ERR"
done
pass "duplicate tokens and identities, NUL bytes, extra fields and files that grant nothing are refused with file:line (rustymemd and rustymem-fleet)"

chmod 644 "$TMP/auth"
start_agent --auth-file "$TMP/auth"
if [ "$(stat -c %u "$TMP/auth")" = 0 ]; then
  grep -q "WARN  auth file $TMP/auth has mode 0644: other users can read the tokens" "$TMP/agent.log" ||
    fail "no warning for a world-readable auth file: $(grep auth "$TMP/agent.log")"
fi
chmod 640 "$TMP/auth"
kill -HUP "$AGENT_PID"
until_ok 10 grep -q "SIGHUP: auth: 2 rules" "$TMP/agent.log" || fail "reload after chmod"
[ "$(grep -c "has mode" "$TMP/agent.log")" -eq 1 ] || fail "a root-owned 0640 file should not warn: $(grep "has mode" "$TMP/agent.log")"
stop_agent
chmod 600 "$TMP/auth"
start_agent --auth-file "$TMP/auth"
grep -q "has mode" "$TMP/agent.log" && fail "a 0600 auth file warned"
stop_agent
pass "a world-readable auth file loads with a warning; 0600 (and 0640 owned by root) do not warn"
echo "test_security: all passed"
