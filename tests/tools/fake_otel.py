"""obsctl's OpenTelemetry export, faked for tests: given what one command did, sends ONE
OTLP/gRPC ExportMetricsServiceRequest to $OTEL_EXPORTER_OTLP_ENDPOINT with the metrics
the telemetry contract (src/model/contract.rs) says an honest obsctl reports, or a
deliberately wrong version of them (FAKE_OTEL_MODE).

    python fake_otel.py COMMAND STATUS [--bytes N] [--files N,N,...] [--cause CAUSE] [--seconds S]

    COMMAND  upload | download | delete | list | head_object | du | presign | sync | mb | rb
    STATUS   ok | failed
    --bytes  bytes transferred (upload: the local file's size; download: the object's);
             a sync's default is the sum of --files
    --files  a sync's file sizes, comma-separated (empty: no files)
    --cause  why a failure failed: missing_bucket | missing_file | auth | missing_key |
             unknown (the default: errors_total alone)
    --seconds  the command's duration (default 0.01), for operation_duration_seconds
               and transfer_rate_kbps

Environment:
    OTEL_EXPORTER_OTLP_ENDPOINT  http://HOST:PORT (the scheme is dropped for gRPC);
                                 unset or empty: nothing is sent
    OTEL_RESOURCE_ATTRIBUTES     k=v,k=v: the resource, plus service.name
    OTEL_SERVICE_NAME            service.name (default obsctl)
    OTEL_EXPORTER_OTLP_HEADERS   k=v,k=v: gRPC metadata on the export, read as
                                 OpenTelemetry's Rust exporter (obsctl's) reads it:
                                 comma-separated, trimmed, split at the first '=',
                                 values URL-decoded, empty keys or values skipped
    FAKE_OTEL_MODE               honest (default) | double_errors (errors_total +2 per
                                 failure) | never (sends nothing) | overcount_bytes
                                 (bytes_uploaded_total and bytes_downloaded_total doubled)
                                 | shared_id (service.instance.id is one fixed value)
    FAKE_OTEL_DROP               a family this build never exports (any mode), e.g.
                                 uploads_total: a build that lost a metric

Metrics are cumulative: monotonic Sums and Histograms (count and sum; no buckets).
Never hangs (a 3 s deadline on the RPC) and always exits 0 once its arguments parse:
obsctl's exit code never depends on its telemetry. Writes nothing to stdout.
"""
import argparse
import os
import sys
import time
import urllib.parse

MIB = 1 << 20
COMMANDS = ("upload", "download", "delete", "list", "head_object", "du", "presign", "sync", "mb", "rb")
CAUSES = {
    "missing_bucket": "errors_bucket_total",
    "missing_file": "errors_file_total",
    "auth": "errors_auth_total",
    "missing_key": "errors_service_total",
    "unknown": None,
}
MODES = ("honest", "double_errors", "never", "overcount_bytes", "shared_id")
SHARED_ID = "fake-otel-shared-instance"
DEADLINE_S = 3.0


def size_family(size):
    if size < MIB:
        return "files_small_total"
    if size < 100 * MIB:
        return "files_medium_total"
    if size < 1024 * MIB:
        return "files_large_total"
    return "files_xlarge_total"


def contract(command, ok, nbytes, files, cause, seconds, mode):
    """(counters, histograms): name -> value, name -> (count, sum)."""
    counters = {}
    hists = {}

    def add(name, v=1):
        counters[name] = counters.get(name, 0) + v

    def sample(name, v):
        c, s = hists.get(name, (0, 0.0))
        hists[name] = (c + 1, s + v)

    add("operations_total")
    sample("operation_duration_seconds", seconds)
    if not ok:
        add("errors_total", 2 if mode == "double_errors" else 1)
        family = CAUSES[cause]
        if family:
            add(family)
        return counters, hists

    byte_factor = 2 if mode == "overcount_bytes" else 1

    def transferred(size):
        add(size_family(size))
        sample("file_size_bytes", float(size))
        sample("transfer_rate_kbps", size / 1024.0 / max(seconds, 1e-3))

    if command == "upload":
        add("uploads_total")
        add("files_uploaded_total")
        add("bytes_uploaded_total", nbytes * byte_factor)
        transferred(nbytes)
    elif command == "download":
        add("downloads_total")
        add("files_downloaded_total")
        add("bytes_downloaded_total", nbytes * byte_factor)
        transferred(nbytes)
    elif command == "delete":
        add("deletes_total")
        add("files_deleted_total")
    elif command == "list":
        add("lists_total")
    elif command == "sync":
        add("sync_operations_total")
        add("files_uploaded_total", len(files))
        add("bytes_uploaded_total", nbytes * byte_factor)
        for f in files:
            transferred(f)
    return counters, hists


def resource_attributes(mode):
    attrs = {}
    for kv in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
        k, sep, v = kv.partition("=")
        k = k.strip()
        if sep and k:
            attrs[k] = urllib.parse.unquote(v.strip())
    attrs["service.name"] = os.environ.get("OTEL_SERVICE_NAME") or "obsctl"
    if mode == "shared_id":
        attrs["service.instance.id"] = SHARED_ID
    return attrs


def request(attrs, counters, hists, start_ns, now_ns):
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
    from opentelemetry.proto.common.v1 import common_pb2
    from opentelemetry.proto.metrics.v1 import metrics_pb2
    from opentelemetry.proto.resource.v1 import resource_pb2

    cumulative = metrics_pb2.AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
    resource = resource_pb2.Resource(
        attributes=[
            common_pb2.KeyValue(key=k, value=common_pb2.AnyValue(string_value=v)) for k, v in sorted(attrs.items())
        ]
    )
    metrics = []
    for name, v in sorted(counters.items()):
        point = metrics_pb2.NumberDataPoint(start_time_unix_nano=start_ns, time_unix_nano=now_ns)
        if isinstance(v, int):
            point.as_int = v
        else:
            point.as_double = v
        metrics.append(
            metrics_pb2.Metric(
                name=name,
                sum=metrics_pb2.Sum(data_points=[point], aggregation_temporality=cumulative, is_monotonic=True),
            )
        )
    for name, (count, total) in sorted(hists.items()):
        point = metrics_pb2.HistogramDataPoint(
            start_time_unix_nano=start_ns, time_unix_nano=now_ns, count=count, sum=total
        )
        metrics.append(
            metrics_pb2.Metric(
                name=name,
                histogram=metrics_pb2.Histogram(data_points=[point], aggregation_temporality=cumulative),
            )
        )
    scope = common_pb2.InstrumentationScope(name="obsctl", version="0.3.0-fake")
    return metrics_service_pb2.ExportMetricsServiceRequest(
        resource_metrics=[
            metrics_pb2.ResourceMetrics(
                resource=resource, scope_metrics=[metrics_pb2.ScopeMetrics(scope=scope, metrics=metrics)]
            )
        ]
    )


def headers():
    out = []
    for kv in os.environ.get("OTEL_EXPORTER_OTLP_HEADERS", "").split(","):
        k, sep, v = kv.partition("=")
        k, v = k.strip().lower(), urllib.parse.unquote(v.strip())
        if sep and k and v:
            out.append((k, v))
    return out


def export(endpoint, req):
    import grpc
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc

    target = endpoint
    for scheme in ("http://", "https://"):
        if target.startswith(scheme):
            target = target[len(scheme) :]
    target = target.rstrip("/")
    # Loopback only in tests: never through a proxy the environment may name.
    channel = grpc.insecure_channel(target, options=[("grpc.enable_http_proxy", 0)])
    try:
        metrics_service_pb2_grpc.MetricsServiceStub(channel).Export(req, timeout=DEADLINE_S, metadata=headers())
    finally:
        channel.close()


def main():
    p = argparse.ArgumentParser(description="one fake obsctl OTLP metrics export")
    p.add_argument("command", choices=COMMANDS)
    p.add_argument("status", choices=("ok", "failed"))
    p.add_argument("--bytes", type=int, default=None)
    p.add_argument("--files", default="")
    p.add_argument("--cause", choices=tuple(CAUSES), default="unknown")
    p.add_argument("--seconds", type=float, default=0.01)
    a = p.parse_args()
    started = time.time_ns()
    mode = os.environ.get("FAKE_OTEL_MODE") or "honest"
    if mode not in MODES:
        print(f"fake_otel: unknown FAKE_OTEL_MODE {mode!r}; exporting honestly", file=sys.stderr)
        mode = "honest"
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")
    if mode == "never" or not endpoint:
        return 0
    files = [int(f) for f in a.files.split(",") if f.strip()]
    nbytes = a.bytes if a.bytes is not None else sum(files)
    counters, hists = contract(a.command, a.status == "ok", nbytes, files, a.cause, a.seconds, mode)
    drop = os.environ.get("FAKE_OTEL_DROP") or ""
    counters.pop(drop, None)
    hists.pop(drop, None)
    start_ns = started - int(a.seconds * 1e9)
    try:
        export(endpoint, request(resource_attributes(mode), counters, hists, start_ns, time.time_ns()))
    except Exception as e:  # noqa: BLE001 - telemetry never fails the command
        why = f"{e.code().name}: {e.details()}" if hasattr(e, "code") and hasattr(e, "details") else repr(e)
        print(f"fake_otel: export to {endpoint} failed: {why}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
