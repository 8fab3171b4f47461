"""The application side of the demo: a watching ``promptgov.Client`` that reports the
version it serves, then the moment a rollback reaches it.

python scripts/demo_watch.py URL TOKEN READY_FILE
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import promptgov

PROMPT = "support-reply"


def main() -> None:
    url, token, ready = sys.argv[1:4]
    cache = Path(tempfile.mkdtemp()) / "sdk"
    with promptgov.Client(url, token=token, watch=True, cache_dir=cache) as client:
        first = client.get(PROMPT)
        print(
            f"SDK: {PROMPT}@prod is {first.version} ({first.source}, sha256 {first.sha256[:12]}…)"
        )
        if not client.wait_watching(10):
            raise SystemExit("SDK: the event stream did not open")
        print("SDK: watching /v1/events", flush=True)
        Path(ready).write_text("ready")
        deadline = time.monotonic() + 120
        while (now := client.get(PROMPT)).version == first.version:
            if time.monotonic() > deadline:
                raise SystemExit("SDK: no rollback seen within 120 s")
            time.sleep(0.001)
        seen = time.time()
        text = now.render(customer_name="Dana", order_id="A-1", message="late")
        print(f"SDK: now serving {now.version} (sha256 {now.sha256[:12]}…), seen at {seen:.3f}")
        print(f"SDK: rendered: {str(text)[:80]}…", flush=True)


if __name__ == "__main__":
    main()
