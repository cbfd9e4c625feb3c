"""Interop: a Python grpcio client that knows nothing of our .proto files
lists rustymemd's services through server reflection, builds the message
classes from the descriptors it receives, and calls GetMemoryStats.

Only the standard reflection proto (Debian's grpc-proto) is compiled here.
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

BUILD = os.environ["RM_BUILD_DIR"]
REFL_DIR = "/usr/share/grpc-proto/grpc/reflection/v1alpha"


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
    tmp = tempfile.mkdtemp(prefix="rm-refl-")
    proc = None
    try:
        gen = os.path.join(tmp, "gen")
        os.makedirs(gen)
        assert protoc.main(["protoc", "-I" + REFL_DIR, "--python_out=" + gen,
                            "--grpc_python_out=" + gen, "reflection.proto"]) == 0
        sys.path.insert(0, gen)
        import reflection_pb2, reflection_pb2_grpc
        from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

        proc, port = start_agent(tmp)
        channel = grpc.insecure_channel("127.0.0.1:%d" % port)
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)

        def ask(**kw):
            return next(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(**kw)]), timeout=10))

        services = [s.name for s in ask(list_services="").list_services_response.service]
        assert "rustymem.v1.MemoryService" in services, services
        assert "grpc.health.v1.Health" in services, services
        print("ok - list_services:", ", ".join(services))

        r = ask(file_containing_symbol="rustymem.v1.MemoryService")
        assert r.HasField("file_descriptor_response"), r
        pool = descriptor_pool.DescriptorPool()
        protos = [descriptor_pb2.FileDescriptorProto.FromString(b)
                  for b in r.file_descriptor_response.file_descriptor_proto]
        added = set()
        while len(added) < len(protos):  # add dependencies first
            for fdp in protos:
                if fdp.name not in added and all(d in added for d in fdp.dependency):
                    pool.Add(fdp)
                    added.add(fdp.name)
        svc = pool.FindServiceByName("rustymem.v1.MemoryService")
        methods = [m.name for m in svc.methods]
        assert "GetMemoryStats" in methods and "WatchStats" in methods, methods
        print("ok - MemoryService methods:", ", ".join(methods))

        m = svc.methods_by_name["GetMemoryStats"]
        factory = message_factory.MessageFactory(pool)  # protobuf 3.21 API
        req_cls = factory.GetPrototype(m.input_type)
        resp_cls = factory.GetPrototype(m.output_type)
        call = channel.unary_unary("/rustymem.v1.MemoryService/GetMemoryStats",
                                   request_serializer=req_cls.SerializeToString,
                                   response_deserializer=resp_cls.FromString)
        stats = call(req_cls(), timeout=5)
        assert stats.rss_bytes > 0, stats
        print("ok - GetMemoryStats called through reflection only: rss_bytes=%d" % stats.rss_bytes)

        err = ask(file_containing_symbol="rustymem.v1.NoSuchThing")
        assert err.HasField("error_response") and err.error_response.error_code == 5, err
        m2 = ask(file_containing_symbol="rustymem.v1.MemoryService.GetSlabStats")
        assert m2.HasField("file_descriptor_response")
        print("ok - unknown symbol -> NOT_FOUND error_response; method symbols resolve")
        channel.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        proc = None
        print("1 passed, 0 failed")
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
