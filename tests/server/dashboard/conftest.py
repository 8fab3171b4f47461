"""The dashboard in Debian's chromium, driven by Playwright, against a real uvicorn server.

Each test copies one prepared repository (built once), so tests share no state: support-reply
1.0.0 and 1.1.0 released everywhere, 1.2.0 through staging with a passing prod gate, so it
waits for a prod approver.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from promptgov.actions.gate import GateOptions, check_gate

from ...flows import PROMPT, add_version, registry, release, two_releases
from ..conftest import Served, start

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[3]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "build" / "screenshots"


@pytest.fixture(scope="session")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository every test starts from."""
    root = tmp_path_factory.mktemp("dashboard") / "repo"
    two_releases(root)
    add_version(root, "1.2.0")
    release(root, "1.2.0", ("dev", "staging"))
    check_gate(registry(root), f"{PROMPT}@1.2.0", GateOptions(env="prod"))
    return root


@pytest.fixture
def served(prepared: Path, tmp_path: Path) -> Iterator[Served]:
    """A server over this test's own copy of :func:`prepared`."""
    root = tmp_path / "repo"
    shutil.copytree(prepared, root, symlinks=True)
    yield from start(root)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Debian chromium (``make debian-packages`` installs it). Per module: the sync API
    keeps an event loop running in this thread, which tests elsewhere must not find."""
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies) and its page."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    context.close()


@dataclass
class Ui:
    """Steps a person takes in the dashboard, with the checks every page gets."""

    page: Page
    served: Served

    def go(self, path: str) -> None:
        self.page.goto(self.served.url + path)

    def sign_in(self, key: str) -> None:
        """Sign in with the token ``key`` of the served repository."""
        self.go("/ui/login")
        self.page.get_by_label("Token").fill(self.served.tokens[key].secret)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_url("**/ui/")

    def sign_out(self) -> None:
        self.page.get_by_role("button", name="Sign out").click()
        self.page.wait_for_url("**/ui/login")

    def check(self, shot: str) -> None:
        """axe-core finds nothing serious or critical; the page is saved as a screenshot."""
        assert_accessible(self.page)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{shot}.png"), full_page=True)


def assert_accessible(page: Page) -> None:
    """Run axe-core inside the page (evaluated, so the page's CSP stays as served)."""
    page.evaluate(AXE.read_text())
    results: dict[str, Any] = page.evaluate("() => axe.run(document)")
    bad = [v for v in results["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, json.dumps(
        [{"id": v["id"], "nodes": [n["html"] for n in v["nodes"][:3]]} for v in bad], indent=1
    )


@pytest.fixture
def ui(page: Page, served: Served) -> Ui:
    """The dashboard of :func:`served` in :func:`page`."""
    return Ui(page, served)
