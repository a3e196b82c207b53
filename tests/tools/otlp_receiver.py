"""A minimal OTLP/gRPC receiver for tests: accepts metrics and traces and appends the
name of every metric it receives to a file, one per line.

    python otlp_receiver.py OUT_FILE [REQUESTS_FILE]
        prints "PORT <n>" once listening on 127.0.0.1

With REQUESTS_FILE, every metrics export request also appends one JSON line there
(written whole, so its line count is the number of requests received):

    {"headers": {"authorization": "...", ...},
     "resources": [{"attributes": {"service.instance.id": "...", ...},
                    "metrics": {"operations_total": 1, "file_size_bytes": {"count": 1, "sum": 42.0}}}]}

`headers` are the request's gRPC metadata but the transport's own (user-agent,
grpc-*, te, content-type). Sums and gauges give their points' total; histograms their count and sum.
"""
import json
import sys
import threading
from concurrent import futures

import grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

out_path = sys.argv[1]
requests_path = sys.argv[2] if len(sys.argv) > 2 else None
lock = threading.Lock()


def text(v):
    kind = v.WhichOneof("value")
    return "" if kind is None else str(getattr(v, kind))


def number(p):
    kind = p.WhichOneof("value")
    return 0 if kind is None else getattr(p, kind)


def values(m):
    kind = m.WhichOneof("data")
    if kind in ("sum", "gauge"):
        return sum(number(p) for p in getattr(m, kind).data_points)
    if kind in ("histogram", "exponential_histogram", "summary"):
        points = getattr(m, kind).data_points
        return {"count": sum(p.count for p in points), "sum": sum(p.sum for p in points)}
    return None


class Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
    def Export(self, request, context):
        transport = ("user-agent", "te", "content-type", ":authority")
        record = {
            "headers": {
                k: v
                for k, v in context.invocation_metadata()
                if not k.startswith("grpc-") and k not in transport
            },
            "resources": [],
        }
        names = []
        for rm in request.resource_metrics:
            res = {"attributes": {a.key: text(a.value) for a in rm.resource.attributes}, "metrics": {}}
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    names.append(m.name)
                    res["metrics"][m.name] = values(m)
            record["resources"].append(res)
        with lock:
            with open(out_path, "a") as out:
                out.write("".join(n + "\n" for n in names))
            if requests_path:
                with open(requests_path, "a") as out:
                    out.write(json.dumps(record, sort_keys=True) + "\n")
        return metrics_service_pb2.ExportMetricsServiceResponse()


class Traces(trace_service_pb2_grpc.TraceServiceServicer):
    def Export(self, request, context):
        return trace_service_pb2.ExportTraceServiceResponse()


server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(Metrics(), server)
trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Traces(), server)
port = server.add_insecure_port("127.0.0.1:0")
server.start()
print(f"PORT {port}", flush=True)
server.wait_for_termination()
