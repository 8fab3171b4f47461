"""What the dashboard refuses: a viewer's approve and rollback, a form without its CSRF
token; and the red badge of an audit log that does not verify."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import expect

from promptgov.server import ServerOptions
from promptgov.store.paths import AUDIT_FILE

from ...flows import PROMPT, registry
from ..conftest import Running
from .conftest import Ui


def _csrf(ui: Ui) -> str:
    value = ui.page.locator("input[name=csrf]").first.get_attribute("value")
    assert value
    return value


def test_a_viewer_gets_no_approve_button_and_is_refused_the_post(ui: Ui) -> None:
    # bob may approve for prod by policy, but this token carries only the viewer role.
    ui.served.token("bob-viewer", "bob", "viewer")
    ui.sign_in("bob-viewer")
    ui.go("/ui/approvals")
    item = ui.page.get_by_test_id("approval")
    expect(item).to_contain_text(f"{PROMPT}@1.2.0 for prod")
    expect(item).to_contain_text("does not carry the approver role")
    expect(item.get_by_role("button")).to_have_count(0)
    answer = ui.page.request.post(
        f"{ui.served.url}/ui/prompts/{PROMPT}/versions/1.2.0/approve",
        form={"env": "prod", "comment": "", "csrf": _csrf(ui)},
    )
    assert answer.status == 403
    assert "needs the approver role" in answer.text()
    assert not [
        a for a in registry(ui.served.root).record(PROMPT, "1.2.0").approvals if a.env == "prod"
    ]


def test_a_viewer_is_refused_the_rollback(ui: Ui) -> None:
    ui.sign_in("viewer")
    ui.go(f"/ui/prompts/{PROMPT}")
    expect(ui.page.get_by_role("link", name=re.compile("Roll back"))).to_have_count(0)
    ui.go(f"/ui/prompts/{PROMPT}/rollback?env=prod")
    expect(ui.page.get_by_test_id("error")).to_contain_text("needs the releaser role")
    answer = ui.page.request.post(
        f"{ui.served.url}/ui/prompts/{PROMPT}/rollback",
        form={"env": "prod", "reason": "try", "csrf": _csrf(ui)},
    )
    assert answer.status == 403
    assert registry(ui.served.root).entry(PROMPT).environments["prod"].current == "1.1.0"


def test_a_post_without_its_csrf_token_is_refused(ui: Ui) -> None:
    ui.sign_in("prod-approver")
    before = (ui.served.root / AUDIT_FILE).read_bytes()
    for csrf in (None, "0" * 64):
        form = {"env": "prod", "comment": "forged"} | ({"csrf": csrf} if csrf else {})
        answer = ui.page.request.post(
            f"{ui.served.url}/ui/prompts/{PROMPT}/versions/1.2.0/approve", form=form
        )
        assert answer.status == 403
        assert "CSRF" in answer.text()
    assert (ui.served.root / AUDIT_FILE).read_bytes() == before
    # The sign-in form is bound to its browser too.
    answer = ui.page.request.post(
        f"{ui.served.url}/ui/login", form={"token": ui.served.tokens["admin"].secret}
    )
    assert answer.status == 403


def _tamper(root: Path) -> int:
    """Change the reason of the audit entry of the 1.0.0 prod promotion; its number."""
    path = root / AUDIT_FILE
    text = path.read_text()
    old = '"reason":"release 1.0.0"'
    assert old in text, text[:400]
    line = next(ln for ln in text.splitlines() if old in ln)
    seq = int(re.findall(r'"seq":(\d+)', line)[0])
    path.write_text(text.replace(old, '"reason":"release 1.0.1"', 1))
    return seq


def test_a_tampered_audit_log_shows_the_failing_badge(ui: Ui) -> None:
    ui.sign_in("viewer")
    expect(ui.page.get_by_test_id("audit-badge")).to_contain_text("verifies")
    seq = _tamper(ui.served.root)
    ui.go("/ui/")
    badge = ui.page.get_by_test_id("audit-badge")
    expect(badge).to_have_class(re.compile("bad"))
    expect(badge).to_contain_text(f"first bad entry #{seq}")
    ui.check("overview-tampered")
    ui.go("/ui/audit")
    expect(ui.page.get_by_test_id("audit-badge")).to_contain_text("does not verify")


def test_the_sso_proxy_signs_in_without_a_token(ui: Ui) -> None:
    options = ServerOptions(
        trusted_proxy_header="X-Forwarded-User", trusted_proxy_cidrs=("127.0.0.1/32",)
    )
    with Running(ui.served.root, options) as running:
        ui.page.set_extra_http_headers({"X-Forwarded-User": "alice"})
        ui.page.goto(running.url + "/ui/")
        expect(ui.page.get_by_text("Signed in as alice")).to_be_visible()
        ui.page.goto(running.url + "/ui/audit?action=promote&actor=alice&prompt=" + PROMPT)
        rows = ui.page.get_by_test_id("audit").locator("tbody tr")
        expect(rows).to_have_count(8)
        ui.check("audit")
        # The form's filters: an actor, a time window, then a time that is not one.
        ui.page.get_by_label("Action").select_option("approve")
        ui.page.get_by_label("Actor").fill("ALICE")
        ui.page.get_by_label("Since").fill("2000-01-01T00:00Z")
        ui.page.get_by_label("Until").press("Enter")
        expect(rows).to_have_count(5)
        expect(rows.locator("td:nth-child(3)")).to_have_text(["approve"] * 5)
        ui.page.get_by_label("Since").fill("2999-01-01T00:00Z")
        ui.page.get_by_role("button", name="Filter").click()
        expect(rows).to_have_count(0)
        ui.page.get_by_label("Until").fill("yesterday-ish")
        ui.page.get_by_role("button", name="Filter").click()
        expect(ui.page.get_by_test_id("error")).to_contain_text(
            "until: 'yesterday-ish' is not a time"
        )
