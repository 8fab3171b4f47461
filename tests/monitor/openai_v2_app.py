"""An application instrumented with the real ``opentelemetry-instrumentation-openai-v2``.

It serves ``support-reply@1.0.0`` through the real ``openai`` client against the stub model
server, puts the prompt identity on its own span (the instrumentation's ``chat`` span is its
child), and exports with the SDK's own exporters what a deployment would ship: the
``ConsoleSpanExporter`` / ``ConsoleLogRecordExporter`` output and OTLP protobuf spans and logs
(the encoders the OTLP exporters send). The instrumentation reads its configuration from
the environment when it instruments, so each configuration runs in its own process::

    OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true \\
        python -m tests.monitor.openai_v2_app OUT_DIR --reply "Your parcel ships today." -n 30
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import openai
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    ConsoleLogRecordExporter,
    LogRecordExporter,
    LogRecordExportResult,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)

from tests.stub_servers import stub_server

IDENTITY = {"promptgov.prompt.name": "support-reply", "promptgov.prompt.version": "1.0.0"}


class SpanSink(SpanExporter):
    """Keeps every finished span, for the real OTLP protobuf encoder."""

    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


class _Logs(LogRecordExporter):
    def __init__(self) -> None:
        self.items: list[ReadableLogRecord] = []

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        self.items.extend(batch)
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def run(out: Path, reply: str, count: int) -> None:
    """``count`` calls answered with ``reply``; spans.json, logs.json, spans.binpb, logs.binpb."""
    resource = Resource.create({"service.name": "support", "deployment.environment.name": "prod"})
    spans, logs = SpanSink(), _Logs()
    with (out / "spans.json").open("w") as span_out, (out / "logs.json").open("w") as log_out:
        tracing = TracerProvider(resource=resource)
        tracing.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter(out=span_out)))
        tracing.add_span_processor(SimpleSpanProcessor(spans))
        logging = LoggerProvider(resource=resource)
        logging.add_log_record_processor(
            BatchLogRecordProcessor(ConsoleLogRecordExporter(out=log_out))
        )
        logging.add_log_record_processor(SimpleLogRecordProcessor(logs))
        instrumentor = OpenAIInstrumentor()
        instrumentor.instrument(tracer_provider=tracing, logger_provider=logging)
        tracer = tracing.get_tracer("support-app")
        with stub_server(reply=lambda body: reply) as stub:
            client = openai.OpenAI(base_url=stub.openai_url, api_key="test", timeout=10)
            for i in range(count):
                with tracer.start_as_current_span("answer ticket", attributes=IDENTITY):
                    client.chat.completions.create(
                        model="gpt-4o-mini",
                        messages=[{"role": "user", "content": f"Where is parcel {i}?"}],
                    )
        instrumentor.uninstrument()
        tracing.shutdown()
        logging.shutdown()
    (out / "spans.binpb").write_bytes(encode_spans(spans.spans).SerializeToString())
    (out / "logs.binpb").write_bytes(encode_logs(logs.items).SerializeToString())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.monitor.openai_v2_app")
    parser.add_argument("out", type=Path)
    parser.add_argument("--reply", default="Your parcel ships today.")
    parser.add_argument("-n", "--count", type=int, default=3)
    args: Any = parser.parse_args(argv)
    run(args.out, args.reply, args.count)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
