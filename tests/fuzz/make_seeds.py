#!/usr/bin/env python3
"""make_seeds.py - (re)write the seed corpora of tests/fuzz/corpus/<target>/.

The fuzz_rpc, fuzz_knobs and fuzz_config seeds are written here (the
fuzz_exporter_http and fuzz_trace_io seeds are plain files, edited by hand).
The seeds are committed; run this only when an input format or the method
table changes:  python3 tests/fuzz/make_seeds.py
fuzz_rpc's method indices are the order printed by
`RM_FUZZ_LIST_METHODS=1 build-fuzz/tests/fuzz/fuzz_rpc` (METHODS below).
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")

METHODS = """GetMemoryStats GetSlabStats GetArenaStats GetBufferPoolStats GetLargeObjectStats
GetFragmentationStats ListTransactions WatchStats GetEngineStats ListKnobs GetKnobs SetKnobs ApplyProfile
ForceGarbageCollection ClearPlanCache KillOrphanedTransactions KillLongRunningQueries CoalesceLargeObjects
EvictBufferPool SetAdmission TriggerResponse GetForecast ListPressureEvents ListAlerts WatchPressure
OpenSession CloseSession Begin Get Put Delete Scan Savepoint RollbackTo Commit Rollback
HealthCheck HealthWatch ReflectionV1alpha ReflectionV1""".split()
IDX = {m: i for i, m in enumerate(METHODS)}


def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def f_varint(num, v):
    return varint(num << 3) + varint(v)


def f_bytes(num, b):
    if isinstance(b, str):
        b = b.encode()
    return varint(num << 3 | 2) + varint(len(b)) + b


def f_double(num, d):
    return varint(num << 3 | 1) + struct.pack("<d", d)


def call(method, payload=b""):
    return bytes([IDX[method]]) + struct.pack("<H", len(payload)) + payload


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def rpc_seeds():
    for m in METHODS:
        write("fuzz_rpc", "empty_" + m, call(m))
    sid = f_varint(1, 1)
    write("fuzz_rpc", "session_txn", b"".join([
        call("OpenSession", f_bytes(1, "fuzz")),
        call("Begin", sid + f_varint(2, 4096)),
        call("Put", sid + f_bytes(2, "orders") + f_bytes(3, "k1") + f_bytes(4, "v1")),
        call("Savepoint", sid + f_bytes(2, "sp")),
        call("Put", sid + f_bytes(2, "orders") + f_bytes(3, "k2") + f_bytes(4, "v2")),
        call("RollbackTo", sid + f_bytes(2, "sp")),
        call("Get", sid + f_bytes(2, "orders") + f_bytes(3, "k1")),
        call("Scan", sid + f_bytes(2, "orders") + f_bytes(3, "a") + f_bytes(4, "z") + f_varint(5, 10)),
        call("Delete", sid + f_bytes(2, "orders") + f_bytes(3, "k1")),
        call("Commit", sid),
        call("CloseSession", sid),
    ]))
    write("fuzz_rpc", "session_rollback", b"".join([
        call("OpenSession"), call("OpenSession"),
        call("Begin", f_varint(1, 1)), call("Begin", f_varint(1, 2)),
        call("Put", f_varint(1, 1) + f_bytes(2, "t") + f_bytes(3, "k") + f_bytes(4, "a")),
        call("Put", f_varint(1, 2) + f_bytes(2, "t") + f_bytes(3, "k") + f_bytes(4, "b")),
        call("Commit", f_varint(1, 1)), call("Commit", f_varint(1, 2)), call("Rollback", f_varint(1, 2)),
    ]))
    assign = lambda n, v: f_bytes(1, f_bytes(1, n) + f_bytes(2, v))
    write("fuzz_rpc", "set_knobs", call("SetKnobs", assign("pressure.warning_threshold", "0.75")
                                        + assign("buffer_pool.num_frames", "2048")))
    write("fuzz_rpc", "set_knobs_validate", call("SetKnobs", assign("session.max_sessions", "10") + f_varint(2, 1)))
    write("fuzz_rpc", "get_knobs", call("GetKnobs", f_bytes(1, "pressure.warning_threshold") + f_bytes(1, "nope")))
    write("fuzz_rpc", "list_knobs", call("ListKnobs", f_bytes(1, "pressure.")))
    write("fuzz_rpc", "apply_profile", call("ApplyProfile", f_varint(1, 1) + f_varint(2, 2) + f_varint(3, 1)))
    write("fuzz_rpc", "emergency", b"".join([
        call("ClearPlanCache", f_double(1, 0.5)), call("KillLongRunningQueries", f_double(1, 1.5)),
        call("EvictBufferPool", f_double(1, 0.25)), call("CoalesceLargeObjects", f_varint(1, 1)),
        call("SetAdmission", f_varint(1, 0)), call("OpenSession"), call("TriggerResponse", f_varint(1, 2)),
    ]))
    write("fuzz_rpc", "watch_stats", call("WatchStats", f_varint(1, 100)))
    write("fuzz_rpc", "list_txns", call("ListTransactions", f_varint(1, 1) + f_varint(2, 5)))
    write("fuzz_rpc", "pressure_events", call("ListPressureEvents", f_varint(1, 0) + f_varint(2, 3)))
    write("fuzz_rpc", "health", call("HealthCheck", f_bytes(1, "rustymem.v1.MemoryService"))
          + call("HealthWatch", f_bytes(1, "")))
    reqs = [f_bytes(7, ""), f_bytes(3, "rustymem/v1/memory.proto"),
            f_bytes(4, "rustymem.v1.SessionService"), f_bytes(4, "no.such.Symbol")]
    payload = b"".join(bytes([len(r)]) + r for r in reqs)
    write("fuzz_rpc", "reflection", call("ReflectionV1alpha", payload) + call("ReflectionV1", payload))


def knobs_seeds():
    write("fuzz_knobs", "threshold", b"\x00\x00pressure.warning_threshold=0.75\n")
    write("fuzz_knobs", "bytes", b"\x00\x01buffer_pool.num_frames=4096\nslab.page_magazine=64\n")
    write("fuzz_knobs", "started", b"\x02\x05buffer_pool.page_size=16KiB\n")
    write("fuzz_knobs", "validate", b"\x01\x07pressure.warning_threshold=0.9\npressure.critical_threshold=0.8\n")
    write("fuzz_knobs", "values", b"\x00\x03x=1\nx=-1\nx=1e308\nx=0x10\nx=true\nx=off\nx=4KiB\nx=1,2,3\nx=oltp\n"
          b"x=mission-critical\nx=18446744073709551616\nx=nan\n")


def config_seeds():
    ini = ("; operator config\n[pressure]\nwarning_threshold = 0.70\ncritical_threshold = 0.85\n\n"
           "[buffer_pool]\nnum_frames = 1024\n")
    write("fuzz_config", "file_only", ini)
    write("fuzz_config", "all_layers", ini + "\0[pressure]\nwarning_threshold = 0.72\n\0"
          "RUSTYMEM_PRESSURE_WARNING_THRESHOLD=0.71\nRUSTYMEM_ADDR=x\nPATH=/bin\n\0"
          "pressure.warning_threshold = 0.73\nmemory.budget_bytes=1GiB\n")
    write("fuzz_config", "errors", "[pressure]\nwarning_threshold = 1.7\nwarning_threshold = 0.5\nnosection\n"
          "\0\0RUSTYMEM_PRESSURE_NOPE=1\n\0=x\nnovalue\n")
    write("fuzz_config", "outside_section", "key = 1\n[a.b]\n c = d\n")


if __name__ == "__main__":
    rpc_seeds()
    knobs_seeds()
    config_seeds()
