"""Reading what the real OpenTelemetry GenAI instrumentation exports: spans joined to log records.

The instrumented application of the tests (``tests/monitor/openai_v2_app.py``: the real
``opentelemetry-instrumentation-openai-v2`` and ``openai`` client against the stub model
server) makes N calls; then each pair of exported files is read by ``read_records`` in a
fresh process, which reports its wall time and peak RSS. The console layout is one
pretty-printed JSON object per span or log record, so it is the slow case to watch.

    .venv/bin/python benchmarks/otel_ingest.py          # 2,000 calls
    .venv/bin/python benchmarks/otel_ingest.py 20000
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import json, resource, sys, time
from promptgov.monitor import read_records
t = time.perf_counter()
report = read_records(sys.argv[1:])
n = sum(1 for r in report if r.output)
print(json.dumps({"records": n, "seconds": time.perf_counter() - t,
                  "unjoined": report.unjoined_log_records,
                  "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        env = {**os.environ, "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true"}
        subprocess.run(
            [sys.executable, "-m", "tests.monitor.openai_v2_app", tmp, "-n", str(n)],
            cwd=ROOT,
            env=env,
            check=True,
            timeout=3600,
        )
        for pair in (("spans.json", "logs.json"), ("spans.binpb", "logs.binpb")):
            size = sum((out / f).stat().st_size for f in pair) / 1e6
            proc = subprocess.run(
                [sys.executable, "-c", CHILD, *(str(out / f) for f in pair)],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
                timeout=3600,
            )
            got = json.loads(proc.stdout)
            print(
                f"{' + '.join(pair):<24} {size:6.1f} MB  {got['records']} calls with output "
                f"in {got['seconds']:.2f} s ({got['records'] / got['seconds']:,.0f}/s), "
                f"{got['unjoined']} unjoined, peak {got['maxrss_mb']:.0f} MB"
            )


if __name__ == "__main__":
    main()
