"""Interop: Python grpcio (an independent gRPC implementation's client) against
a real rustymemd, using only stubs generated from proto/rustymem/v1 and the
standard grpc.health.v1 proto.

Run by CTest with /usr/bin/python3 (Debian's python3-grpcio, python3-grpc-tools).
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import grpc
from grpc_tools import protoc

SRC = os.environ["RM_SOURCE_DIR"]
BUILD = os.environ["RM_BUILD_DIR"]
HEALTH_DIR = "/usr/share/grpc-proto/grpc/health/v1"


def generate(out):
    protos = sorted(
        os.path.join("rustymem/v1", f)
        for f in os.listdir(os.path.join(SRC, "proto/rustymem/v1"))
        if f.endswith(".proto"))
    os.makedirs(out, exist_ok=True)
    args = ["protoc", "-I" + os.path.join(SRC, "proto"),
            "--python_out=" + out, "--grpc_python_out=" + out] + protos
    assert protoc.main(args) == 0, "protoc failed for our protos"
    # health.proto is compiled from inside its folder so it does not shadow the grpc package
    assert protoc.main(["protoc", "-I" + HEALTH_DIR, "--python_out=" + out,
                        "--grpc_python_out=" + out, "health.proto"]) == 0
    sys.path.insert(0, out)


def start_agent(tmp):
    port_file = os.path.join(tmp, "port")
    proc = subprocess.Popen(
        [os.path.join(BUILD, "agents/node/rustymemd"), "--listen", "127.0.0.1:0",
         "--port-file", port_file, "--data-dir", os.path.join(tmp, "data")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        if os.path.exists(port_file) and open(port_file).read().strip():
            return proc, int(open(port_file).read())
        if proc.poll() is not None:
            raise RuntimeError("rustymemd exited at start")
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("rustymemd did not report its port")


def main():
    tmp = tempfile.mkdtemp(prefix="rm-py-")
    proc = None
    try:
        generate(os.path.join(tmp, "gen"))
        import health_pb2, health_pb2_grpc
        from rustymem.v1 import memory_pb2, memory_pb2_grpc

        proc, port = start_agent(tmp)
        channel = grpc.insecure_channel("127.0.0.1:%d" % port)
        grpc.channel_ready_future(channel).result(timeout=10)

        health = health_pb2_grpc.HealthStub(channel)
        r = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
        assert r.status == health_pb2.HealthCheckResponse.SERVING, r
        print("ok - Health/Check '' -> SERVING")
        r = health.Check(health_pb2.HealthCheckRequest(service="rustymem.v1.MemoryService"), timeout=5)
        assert r.status == health_pb2.HealthCheckResponse.SERVING, r
        try:
            health.Check(health_pb2.HealthCheckRequest(service="nope.Service"), timeout=5)
            raise AssertionError("unknown service did not fail")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.NOT_FOUND, e
        print("ok - Health/Check unknown service -> NOT_FOUND")
        watch = health.Watch(health_pb2.HealthCheckRequest(service=""), timeout=5)
        first = next(watch)
        assert first.status == health_pb2.HealthCheckResponse.SERVING
        watch.cancel()
        print("ok - Health/Watch sends SERVING first")

        mem = memory_pb2_grpc.MemoryServiceStub(channel)
        s = mem.GetMemoryStats(memory_pb2.GetMemoryStatsRequest(), timeout=5)
        assert s.rss_bytes > 0, s
        assert s.budget_bytes > 0, s
        if not os.environ.get("RM_SANITIZE"):  # sanitizer builds replace malloc
            assert s.jemalloc.active and s.jemalloc.allocated_bytes > 0, s.jemalloc
            assert s.jemalloc.resident_bytes > 0 and s.jemalloc.metadata_bytes > 0, s.jemalloc
        assert s.budget_source in ("memtotal", "memavailable", "cgroup_v1", "cgroup_v2", "knob")
        assert s.uptime_seconds > 0 and s.timestamp_unix_ms > 0
        print("ok - GetMemoryStats populated: rss=%d budget=%d (%s) jemalloc.allocated=%d"
              % (s.rss_bytes, s.budget_bytes, s.budget_source, s.jemalloc.allocated_bytes))

        stream = mem.WatchStats(memory_pb2.WatchStatsRequest(interval_ms=100), timeout=5)
        got = [next(stream).rss_bytes for _ in range(3)]
        stream.cancel()
        assert all(x > 0 for x in got)
        print("ok - WatchStats streams")

        try:
            mem.WatchStats(memory_pb2.WatchStatsRequest(interval_ms=5), timeout=5).next()
            raise AssertionError("interval below the floor accepted")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and "interval_ms" in e.details(), e
        print("ok - bad WatchStats interval -> INVALID_ARGUMENT naming the field")

        raw = channel.unary_unary("/rustymem.v1.MemoryService/GetMemoryStats",
                                  request_serializer=lambda b: b, response_deserializer=lambda b: b)
        try:
            raw(b"\x0a\x64ab", timeout=5)
            raise AssertionError("malformed protobuf accepted")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e
        unknown = channel.unary_unary("/rustymem.v1.MemoryService/Nope",
                                      request_serializer=lambda b: b, response_deserializer=lambda b: b)
        try:
            unknown(b"", timeout=5)
            raise AssertionError("unknown method accepted")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.UNIMPLEMENTED, e
        print("ok - malformed -> INVALID_ARGUMENT, unknown method -> UNIMPLEMENTED")

        # knob persistence off the call path (docs/adr/0031)
        from rustymem.v1 import tuning_pb2, tuning_pb2_grpc
        tuning = tuning_pb2_grpc.TuningServiceStub(channel)
        assign = lambda v: [tuning_pb2.KnobAssignment(name="pressure.warning_threshold", value=v)]
        r = tuning.SetKnobs(tuning_pb2.SetKnobsRequest(assignments=assign("0.6")), timeout=5)
        assert r.applied and r.persist_generation >= 1, r
        assert r.durable_generation <= r.persist_generation, r
        assert r.persisted == (r.durable_generation >= r.persist_generation), r
        gen = r.persist_generation
        deadline = time.time() + 30
        while True:  # the writer thread puts it on disk without being asked
            g = tuning.GetKnobs(tuning_pb2.GetKnobsRequest(names=["pressure.warning_threshold"]), timeout=5)
            assert g.persist_generation >= gen, g
            if g.durable_generation >= gen:
                break
            assert time.time() < deadline, "generation %d never became durable: %s" % (gen, g)
            time.sleep(0.05)
        r = tuning.SetKnobs(tuning_pb2.SetKnobsRequest(assignments=assign("0.61"), wait_persisted=True),
                            timeout=5)
        assert r.persisted and r.persist_generation == gen + 1, r
        assert r.durable_generation >= r.persist_generation and not r.warnings, r
        with open(os.path.join(tmp, "data", "knobs.auto.ini")) as f:
            assert "warning_threshold = 0.61" in f.read()
        v = tuning.SetKnobs(tuning_pb2.SetKnobsRequest(assignments=assign("0.5"), validate_only=True), timeout=5)
        assert not v.applied and not v.persisted and v.persist_generation == 0, v
        print("ok - SetKnobs reports its persist generation; wait_persisted replies once it is on disk")
        channel.close()

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        proc = None
        print("ok - rustymemd exits 0 on SIGTERM")
        print("1 passed, 0 failed")
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
