"""End to end in chromium: sign in, read, diff, approve, roll back; then the files on disk."""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from playwright.sync_api import Browser, expect

from promptgov.actions.feedback import ComplaintOptions, report_complaint
from promptgov.actions.monitor import CheckOptions, check_triggers
from promptgov.audit import AuditLog
from promptgov.store.paths import AUDIT_FILE

from ...flows import PROMPT, registry
from ..conftest import Running, Served
from .conftest import Ui, assert_accessible

COMMENT = 'read the gate report <b id="timeline-probe">and the diff</b>'


def test_login_page_sets_a_strict_http_only_session_cookie(ui: Ui) -> None:
    ui.go("/ui/")
    expect(ui.page).to_have_url(re.compile(r"/ui/login$"))
    assert_accessible(ui.page)
    ui.sign_in("viewer")
    cookie = next(c for c in ui.page.context.cookies() if c["name"] == "pg_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert not cookie["secure"]  # plain HTTP on 127.0.0.1; set over TLS
    assert ui.served.tokens["viewer"].secret not in cookie["value"]
    expect(ui.page.get_by_text("Signed in as victor")).to_be_visible()


def test_a_wrong_token_is_refused(ui: Ui) -> None:
    ui.go("/ui/login")
    ui.page.get_by_label("Token").fill("pgt_nobody_notatoken")
    ui.page.get_by_role("button", name="Sign in").click()
    expect(ui.page.get_by_role("alert")).to_contain_text("not valid")
    assert not [c for c in ui.page.context.cookies() if c["name"] == "pg_session"]


def test_overview_prompt_page_and_diff(ui: Ui) -> None:
    ui.sign_in("viewer")
    table = ui.page.get_by_test_id("overview")
    row = table.get_by_role("row").filter(has_text=PROMPT)
    for version in ("1.1.0", "1.2.0"):
        expect(row).to_contain_text(version)
    expect(row).to_contain_text("gate pass")
    expect(ui.page.get_by_test_id("audit-badge")).to_contain_text("Audit log verifies")
    ui.check("overview")

    ui.page.get_by_role("link", name=PROMPT).click()
    expect(ui.page.get_by_role("heading", name=PROMPT, exact=True)).to_be_visible()
    timeline = ui.page.get_by_test_id("timeline")
    expect(timeline).to_contain_text("prod: 1.0.0 → 1.1.0: release 1.1.0")
    expect(ui.page.locator("svg.chart")).to_have_count(3)
    expect(ui.page.locator("pre.mermaid").first).to_contain_text("stateDiagram-v2")
    expect(ui.page.locator("pre.mermaid").nth(1)).to_contain_text("flowchart LR")
    ui.check("prompt")

    ui.page.get_by_label("From").select_option("1.1.0")
    ui.page.get_by_label("To").select_option("1.2.0")
    ui.page.get_by_role("button", name="Show diff").click()
    diff = ui.page.get_by_test_id("diff")
    expect(diff.locator("td.add")).to_contain_text(["release 1.2.0"])
    # 1.2.0 keeps 1.1.0's line and adds its own: context on both sides, the new line on the right.
    expect(diff.locator("tr.same").filter(has_text="release 1.1.0")).to_have_count(1)
    expect(diff.locator("td.empty")).to_have_count(1)
    ui.check("diff")


def test_approve_by_keyboard_then_roll_back(ui: Ui) -> None:
    root = ui.served.root
    ui.sign_in("prod-approver")
    ui.page.get_by_role("link", name="Approvals").click()
    item = ui.page.get_by_test_id("approval")
    expect(item).to_have_count(1)
    expect(item).to_contain_text(f"{PROMPT}@1.2.0 for prod")
    expect(item.locator("td.add")).to_contain_text(["release 1.2.0"])
    report = item.get_by_test_id("gate-report")
    expect(report.locator("tbody tr").first).to_be_visible()
    expect(report.locator("td.gate-fail")).to_have_count(0)
    ui.check("approvals")
    # Keyboard only: focus the comment, type, tab to the button, press Enter.
    item.get_by_label("Comment").focus()
    ui.page.keyboard.type(COMMENT)
    ui.page.keyboard.press("Tab")
    expect(item.get_by_role("button", name=re.compile("^Approve"))).to_be_focused()
    ui.page.keyboard.press("Enter")
    expect(ui.page.get_by_test_id("done")).to_contain_text(
        f"alice approved {PROMPT}@1.2.0 for prod"
    )
    approvals = registry(root).record(PROMPT, "1.2.0").approvals
    assert [(a.env, a.by, a.comment) for a in approvals if a.env == "prod"] == [
        ("prod", "alice", COMMENT)
    ]
    # The comment is shown as text on the timeline, never as markup.
    ui.go(f"/ui/prompts/{PROMPT}")
    expect(ui.page.get_by_test_id("timeline")).to_contain_text(COMMENT)
    expect(ui.page.locator("#timeline-probe")).to_have_count(0)
    ui.sign_out()

    ui.sign_in("releaser")
    ui.go(f"/ui/prompts/{PROMPT}")
    ui.page.get_by_role("link", name="Roll back prod…").click()
    expect(ui.page.get_by_test_id("plan")).to_contain_text("serves 1.1.0")
    expect(ui.page.get_by_test_id("plan")).to_contain_text("last known good is 1.0.0")
    assert registry(root).entry(PROMPT).environments["prod"].current == "1.1.0"  # dry run
    ui.check("rollback-plan")
    ui.page.get_by_label("Reason (required)").fill("refund answers lost the order number")
    ui.page.get_by_label("Evidence links, one per line").fill("https://tickets.example/INC-7")
    ui.page.once("dialog", lambda d: d.accept())
    ui.page.get_by_role("button", name="Roll back prod to 1.0.0").click()
    ui.page.wait_for_url(re.compile(r"/ui/rollbacks/[\w-]+$"))
    job_url = ui.page.url
    expect(ui.page.get_by_test_id("rolled-back")).to_be_visible(timeout=120_000)
    checklist = ui.page.get_by_test_id("checklist")
    expect(checklist.locator("li")).to_have_count(6)
    ui.check("rollback-checklist")

    entry = registry(root).entry(PROMPT)
    restored = entry.environments["prod"].current
    assert restored not in (None, "1.1.0")
    rec = registry(root).record(PROMPT, restored)
    assert rec.restored_from == "1.0.0" and rec.rolled_back_from == "1.1.0"
    last = [e for e in AuditLog(root).entries(prompt=PROMPT, action="rollback")][-1]
    assert (last.actor, last.env, last.from_version, last.to_version) == (
        "alice",
        "prod",
        "1.1.0",
        restored,
    )
    assert last.reason == "refund answers lost the order number"
    assert "https://tickets.example/INC-7" in last.evidence
    assert f"#{last.seq}" in (root / AUDIT_FILE).read_text() or last.seq > 0
    lines = checklist.locator("li")
    for i in range(5):
        expect(lines.nth(i)).to_have_class("ok")
    expect(lines.nth(3)).to_contain_text(f"audit entry #{last.seq}")

    # Another user cannot follow this rollback's page.
    other = Ui(ui.page.context.browser.new_page(), ui.served)
    try:
        other.sign_in("viewer")
        other.page.goto(job_url)
        expect(other.page.get_by_test_id("error")).to_contain_text("no such rollback")
    finally:
        other.page.context.close()


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_over_tls_the_session_cookie_is_secure(
    browser: Browser, served: Served, tmp_path: Path
) -> None:
    cert, key = _self_signed(tmp_path)
    running = Running(served.root)
    running.server.config.ssl_certfile = str(cert)
    running.server.config.ssl_keyfile = str(key)
    with running:
        url = running.url.replace("http://", "https://")
        context = browser.new_context(ignore_https_errors=True)
        try:
            ui = Ui(context.new_page(), Served(served.root, url, served.tokens))
            ui.sign_in("viewer")
            cookie = next(c for c in context.cookies() if c["name"] == "pg_session")
            assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        finally:
            context.close()


def test_complaints_and_a_fired_trigger_show_on_the_overview(ui: Ui) -> None:
    root = ui.served.root
    for i in range(3):
        report_complaint(
            registry(root),
            PROMPT,
            ComplaintOptions(complaint=f"wrong order number {i}", severity="high"),
            by="dana",
        )
    report = check_triggers(registry(root), PROMPT, CheckOptions(notify=False))
    assert "complaints" in {str(r.trigger) for r in report.results if r.status == "fired"}
    ui.sign_in("viewer")
    row = ui.page.get_by_test_id("overview").get_by_role("row").filter(has_text=PROMPT)
    cells = row.locator("td")
    expect(cells.nth(3)).to_contain_text("failing: complaints")  # prod
    expect(cells.nth(2)).not_to_contain_text("failing")  # staging
    expect(cells.nth(5)).to_have_text("3")  # open complaints against prod


def _tab_stops(ui: Ui, limit: int = 60) -> list[str]:
    """What Tab reaches, in order, from the top of the page (name of each focused control)."""
    ui.page.locator("body").focus()
    seen: list[str] = []
    for _ in range(limit):
        ui.page.keyboard.press("Tab")
        name = ui.page.evaluate(
            "() => { const e = document.activeElement;"
            " return e ? (e.getAttribute('aria-label') || e.textContent || e.id || e.tagName)"
            ".trim().replace(/\\s+/g, ' ') : '' }"
        )
        if seen and name == seen[0]:
            break
        seen.append(name)
    return seen


def test_every_action_is_reachable_by_keyboard(ui: Ui) -> None:
    ui.sign_in("releaser")
    stops = _tab_stops(ui)
    for name in ("Skip to content", "Overview", "Approvals", "Audit log", "Sign out", PROMPT):
        assert name in stops, stops
    ui.go(f"/ui/prompts/{PROMPT}")
    stops = _tab_stops(ui, 80)
    for name in ("Roll back dev…", "Roll back staging…", "Roll back prod…", "Show diff"):
        assert name in stops, stops
    # The rollback form, opened and reached by keyboard alone.
    ui.page.get_by_role("link", name="Roll back prod…").focus()
    ui.page.keyboard.press("Enter")
    ui.page.wait_for_url(re.compile(r"/rollback\?env=prod$"))
    stops = _tab_stops(ui)
    assert "Roll back prod to 1.0.0" in stops, stops
