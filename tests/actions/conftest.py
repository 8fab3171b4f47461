"""Fixtures the rollback tests share: a notification sink and a repository prod has moved in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .. import flows
from ..notify_sink import NotifySink


@pytest.fixture(scope="module")
def sink() -> Iterator[NotifySink]:
    with NotifySink() as s:
        yield s


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, sink: NotifySink) -> Path:
    """prod serves 1.1.0 after 1.0.0; notifications go to the sink (copy it per test)."""
    root = tmp_path_factory.mktemp("rollback") / "template"
    flows.two_releases(root)
    flows.set_notifications(root, sink.json_url("/hook"))
    return root
