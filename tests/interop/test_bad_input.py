"""Bad input end to end (issue 10, item 4): a real rustymemd and rustymem-exporter
are sent malformed protobuf, oversize messages, wrong content types, random
bytes on the gRPC port, HTTP garbage, out-of-range and wrong-type knob values,
unknown session and transaction ids and expired deadlines. Every one must get a
clear error (gRPC status + a message naming the field, or an HTTP 4xx) and the
agent must keep serving with unchanged state (knobs, sessions, stats shape).

Python grpcio is the independent client; raw sockets and curl (HTTP/2 prior
knowledge) send what no well-behaved client would.
"""
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_python_grpc import generate, start_agent  # noqa: E402

BUILD = os.environ["RM_BUILD_DIR"]
SANITIZED = bool(os.environ.get("RM_SANITIZE"))
CHECKS = 0


def ok(what):
    global CHECKS
    CHECKS += 1
    print("ok - " + what)


def expect_rpc_error(fn, code, *words):
    try:
        fn()
    except grpc.RpcError as e:
        assert e.code() == code, "%s: got %s (%s), want %s" % (words, e.code(), e.details(), code)
        for w in words:
            assert w in (e.details() or ""), "message %r does not name %r" % (e.details(), w)
        return e.details()
    raise AssertionError("call succeeded; wanted %s %s" % (code, words))


def raw_unary(channel, method):
    return channel.unary_unary(method, request_serializer=lambda b: b, response_deserializer=lambda b: b)


def start_exporter(tmp, port):
    port_file = os.path.join(tmp, "exp.port")
    proc = subprocess.Popen(
        [os.path.join(BUILD, "agents/exporter/rustymem-exporter"), "--agent", "127.0.0.1:%d" % port,
         "--listen", "127.0.0.1:0", "--port-file", port_file, "--timeout", "2000"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        if os.path.exists(port_file) and open(port_file).read().strip():
            return proc, int(open(port_file).read())
        if proc.poll() is not None:
            raise RuntimeError("rustymem-exporter exited at start")
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("rustymem-exporter did not report its port")


def raw_exchange(port, data, timeout=3.0):
    """Send bytes, read until the peer closes or goes quiet; returns what came back."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    got = b""
    try:
        s.sendall(data)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    except (socket.timeout, ConnectionResetError, BrokenPipeError):
        pass
    finally:
        s.close()
    return got


def snapshot(tuning_pb2, tuning, session, session_pb2, memory, memory_pb2):
    knobs = {k.name: k.value for k in tuning.ListKnobs(tuning_pb2.ListKnobsRequest(), timeout=10).knobs}
    stats = memory.GetMemoryStats(memory_pb2.GetMemoryStatsRequest(), timeout=10)
    # sample_age_ms is 0 (so unset in proto3) when the reply is built in the sample's own millisecond,
    # and fresh_read only on a fresh=true call: their presence says when the call came, not the state
    timing = {"sample_age_ms", "fresh_read"}
    return knobs, sorted(f.name for f, _ in stats.ListFields() if f.name not in timing)


def main():
    tmp = tempfile.mkdtemp(prefix="rm-bad-")
    agent = exporter = None
    try:
        generate(os.path.join(tmp, "gen"))
        import health_pb2, health_pb2_grpc
        from rustymem.v1 import memory_pb2, memory_pb2_grpc, tuning_pb2, tuning_pb2_grpc
        from rustymem.v1 import session_pb2, session_pb2_grpc, emergency_pb2, emergency_pb2_grpc

        agent, port = start_agent(tmp)
        channel = grpc.insecure_channel("127.0.0.1:%d" % port,
                                        options=[("grpc.max_send_message_length", 64 << 20)])
        grpc.channel_ready_future(channel).result(timeout=10)
        health = health_pb2_grpc.HealthStub(channel)
        memory = memory_pb2_grpc.MemoryServiceStub(channel)
        tuning = tuning_pb2_grpc.TuningServiceStub(channel)
        session = session_pb2_grpc.SessionServiceStub(channel)
        emergency = emergency_pb2_grpc.EmergencyServiceStub(channel)

        # a session with data, whose state must survive everything below
        sid = session.OpenSession(session_pb2.OpenSessionRequest(client_name="bad-input"), timeout=10).session_id
        session.Begin(session_pb2.BeginRequest(session_id=sid), timeout=10)
        session.Put(session_pb2.PutRequest(session_id=sid, table="t", key=b"k", value=b"v1"), timeout=10)
        session.Commit(session_pb2.CommitRequest(session_id=sid), timeout=10)
        before = snapshot(tuning_pb2, tuning, session, session_pb2, memory, memory_pb2)

        # 1. malformed protobuf: truncated varint, bad wire type, invalid UTF-8 in a string field
        for label, payload in [("truncated varint", b"\x08\xff\xff"),
                               ("wire type 7", b"\x0f\x01"),
                               ("length past the end", b"\x0a\x10abc"),
                               ("invalid UTF-8 in prefix", b"\x0a\x02\xc3\x28")]:
            msg = expect_rpc_error(lambda: raw_unary(channel, "/rustymem.v1.TuningService/ListKnobs")(payload, timeout=5),
                                   grpc.StatusCode.INVALID_ARGUMENT)
            assert msg, "empty message for " + label
            ok("malformed protobuf (%s) -> INVALID_ARGUMENT: %s" % (label, msg))
        rnd = random.Random(2026)
        for i in range(200):
            payload = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 64)))
            method = rnd.choice(["/rustymem.v1.TuningService/SetKnobs", "/rustymem.v1.SessionService/Put",
                                 "/rustymem.v1.EmergencyService/EvictBufferPool",
                                 "/rustymem.v1.MemoryService/GetMemoryStats"])
            try:
                raw_unary(channel, method)(payload, timeout=5)
            except grpc.RpcError as e:
                assert e.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
                                    grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.OUT_OF_RANGE), \
                    (method, payload, e.code(), e.details())
                assert e.details(), (method, payload)
        ok("200 random payloads on 4 methods -> clear client errors, no crash")

        # 2. oversize message (limit 4 MiB)
        big = tuning_pb2.ListKnobsRequest(prefix="x" * (5 << 20)).SerializeToString()
        expect_rpc_error(lambda: raw_unary(channel, "/rustymem.v1.TuningService/ListKnobs")(big, timeout=10),
                         grpc.StatusCode.RESOURCE_EXHAUSTED)
        ok("5 MiB request -> RESOURCE_EXHAUSTED")

        # 3. unknown method and unknown service
        expect_rpc_error(lambda: raw_unary(channel, "/rustymem.v1.TuningService/NoSuch")(b"", timeout=5),
                         grpc.StatusCode.UNIMPLEMENTED)
        expect_rpc_error(lambda: raw_unary(channel, "/nope.Service/X")(b"", timeout=5), grpc.StatusCode.UNIMPLEMENTED)
        ok("unknown method/service -> UNIMPLEMENTED")

        # 4. wrong content type (HTTP/2 prior knowledge, curl's own HTTP/2 stack). gRPC C core
        #    (Debian 1.51) drops an invalid content-type with a log line instead of answering 415, and
        #    then parses the body as gRPC frames: so the body decides. A framed malformed message and
        #    an unframed body both must be refused with a status naming the problem.
        bodies = [(b"\x00\x00\x00\x00\x05hello", "3", "malformed"),
                  (b"plain text, not a gRPC frame", None, None),
                  (b"\x00\x00\x00", "3", "no request message")]
        for body, want_status, word in bodies:
            with open(os.path.join(tmp, "body.bin"), "wb") as f:
                f.write(body)
            r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-D", "-", "--http2-prior-knowledge",
                                "--max-time", "5", "-H", "content-type: text/plain", "-H", "te: trailers",
                                "--data-binary", "@" + os.path.join(tmp, "body.bin"),
                                "http://127.0.0.1:%d/rustymem.v1.TuningService/SetKnobs" % port],
                               capture_output=True, text=True)
            head = r.stdout.lower()
            status = [l.split(":", 1)[1].strip() for l in head.splitlines() if l.startswith("grpc-status:")]
            assert status and status[0] != "0", (body, head)
            if want_status:
                assert status[0] == want_status and word in head, (body, head)
        ok("content-type text/plain with framed garbage / unframed text / a truncated frame -> refused")
        r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5",
                            "http://127.0.0.1:%d/" % port], capture_output=True, text=True)
        ok("HTTP/1.1 request on the gRPC port -> refused (code %s)" % (r.stdout or "none"))

        # 5. random bytes and a truncated preface on the gRPC port
        for i in range(20):
            raw_exchange(port, bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 4096))), timeout=1)
        raw_exchange(port, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x04\x08\x00" + b"\xff" * 40, timeout=1)
        ok("21 connections of random bytes / broken frames on the gRPC port")

        # 6. knobs: out of range, wrong type, unknown name, mixed batch -> nothing applied
        cases = [("pressure.warning_threshold", "1.7"), ("pressure.warning_threshold", "abc"),
                 ("buffer_pool.num_frames", "-5"), ("buffer_pool.num_frames", "12.5"),
                 ("slab.lock_entry_magazine", "99999999999999999999"), ("no.such_knob", "1")]
        for name, value in cases:
            expect_rpc_error(lambda: tuning.SetKnobs(tuning_pb2.SetKnobsRequest(assignments=[
                tuning_pb2.KnobAssignment(name=name, value=value)]), timeout=5),
                grpc.StatusCode.NOT_FOUND if name == "no.such_knob" else grpc.StatusCode.INVALID_ARGUMENT, name)
        expect_rpc_error(lambda: tuning.SetKnobs(tuning_pb2.SetKnobsRequest(assignments=[
            tuning_pb2.KnobAssignment(name="pressure.warning_threshold", value="0.6"),
            tuning_pb2.KnobAssignment(name="pressure.critical_threshold", value="7")]), timeout=5),
            grpc.StatusCode.INVALID_ARGUMENT, "pressure.critical_threshold")
        expect_rpc_error(lambda: tuning.GetKnobs(tuning_pb2.GetKnobsRequest(names=["no.such_knob"]), timeout=5),
                         grpc.StatusCode.NOT_FOUND, "no.such_knob")
        ok("%d bad knob assignments -> INVALID_ARGUMENT naming the knob; batch with one bad value applies nothing"
           % (len(cases) + 1))

        # 7. unknown session / transaction ids, bad emergency arguments
        for fn, field in [
                (lambda: session.Begin(session_pb2.BeginRequest(session_id=987654321), timeout=5), "session"),
                (lambda: session.Put(session_pb2.PutRequest(session_id=987654321, table="t", key=b"k", value=b"x"),
                                     timeout=5), "session"),
                (lambda: session.Commit(session_pb2.CommitRequest(session_id=987654321), timeout=5), "session"),
                (lambda: session.CloseSession(session_pb2.CloseSessionRequest(session_id=0), timeout=5), "session")]:
            try:
                fn()
                raise AssertionError("unknown session accepted")
            except grpc.RpcError as e:
                assert e.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT), (e.code(), e.details())
                assert field in e.details(), e.details()
        try:
            session.Commit(session_pb2.CommitRequest(session_id=sid), timeout=5)   # no open transaction
            raise AssertionError("commit without a transaction accepted")
        except grpc.RpcError as e:
            assert e.code() in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND), e
            assert e.details()
        expect_rpc_error(lambda: emergency.EvictBufferPool(emergency_pb2.EvictBufferPoolRequest(fraction=1.5),
                                                           timeout=5), grpc.StatusCode.INVALID_ARGUMENT, "fraction")
        expect_rpc_error(lambda: emergency.EvictBufferPool(emergency_pb2.EvictBufferPoolRequest(fraction=-0.1),
                                                           timeout=5), grpc.StatusCode.INVALID_ARGUMENT, "fraction")
        ok("unknown session/transaction ids -> NOT_FOUND/FAILED_PRECONDITION; fraction 1.5 / -0.1 -> INVALID_ARGUMENT")

        # 8. expired deadlines
        for _ in range(50):
            try:
                memory.GetMemoryStats(memory_pb2.GetMemoryStatsRequest(), timeout=0.000001)
            except grpc.RpcError as e:
                assert e.code() == grpc.StatusCode.DEADLINE_EXCEEDED, e.code()
        ok("50 calls with an expired deadline -> DEADLINE_EXCEEDED")

        # 9. the exporter: HTTP garbage, bad methods, unknown paths, query strings, oversize headers
        exporter, eport = start_exporter(tmp, port)
        got = raw_exchange(eport, b"\x16\x03\x01\x02\x00garbage\r\n\r\n")
        assert got.startswith(b"HTTP/1.1 400") or got == b"", got[:80]
        got = raw_exchange(eport, b"GET /metrics HTTP/9.9\r\n\r\n")
        assert got == b"" or got.split(b" ")[1] in (b"400", b"505"), got[:80]
        got = raw_exchange(eport, b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert got == b"" or got.split(b" ")[1] in (b"414", b"400", b"431"), got[:80]
        for i in range(30):
            raw_exchange(eport, bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 2048))), timeout=1)
        for method, path, want in [("POST", "/metrics", 405), ("DELETE", "/api/v1/stats/memory", 405),
                                   ("GET", "/nope", 404), ("GET", "/api/v1/stats/memory?x=%ZZ&&=&y", 200),
                                   ("GET", "/metrics?name[]=%00", 200), ("GET", "/../../etc/passwd", 404)]:
            r = subprocess.run(["curl", "-s", "-o", os.path.join(tmp, "body"), "-w", "%{http_code}", "-X", method,
                                "--path-as-is", "--max-time", "10", "http://127.0.0.1:%d%s" % (eport, path)],
                               capture_output=True, text=True)
            assert r.stdout == str(want), (method, path, r.stdout)
            if want != 200:
                body = json.load(open(os.path.join(tmp, "body")))
                assert body.get("error"), body
        ok("exporter: TLS bytes, bad version, 100 kB URL, 30 random payloads, bad methods/paths/query strings")
        assert exporter.poll() is None, "exporter died"

        # the agent kept serving, with unchanged state
        r = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
        assert r.status == health_pb2.HealthCheckResponse.SERVING
        after = snapshot(tuning_pb2, tuning, session, session_pb2, memory, memory_pb2)
        assert after[0] == before[0], {k: (before[0].get(k), v) for k, v in after[0].items() if before[0].get(k) != v}
        assert after[1] == before[1]
        session.Begin(session_pb2.BeginRequest(session_id=sid), timeout=10)
        g = session.Get(session_pb2.GetRequest(session_id=sid, table="t", key=b"k"), timeout=10)
        assert g.found and g.value == b"v1", g
        session.Rollback(session_pb2.RollbackRequest(session_id=sid), timeout=10)
        ok("agent still SERVING; knobs unchanged (%d), committed data intact" % len(after[0]))

        channel.close()
        agent.send_signal(signal.SIGTERM)
        rc = agent.wait(timeout=30)
        assert rc == 0, "rustymemd exited %d" % rc
        agent = None
        ok("rustymemd exits 0 on SIGTERM")
        print("%d checks passed" % CHECKS)
    finally:
        for p in (exporter, agent):
            if p and p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
