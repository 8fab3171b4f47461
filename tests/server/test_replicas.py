"""Replicas on one bare git remote: real uvicorn servers, each serving its own clone.

Racing writes through different replicas: the push decides, one wins, the other is
re-validated on the new state (a 409 for a pointer that moved), the audit chain stays
one line, every replica converges, ``verify`` is clean on every clone, and SSE clients
of one replica hear moves made through another.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from promptgov import ApproveOptions, GateOptions, Registry, approve, check_gate, verify
from promptgov.audit import AuditLog
from promptgov.repo import Repo
from promptgov.server import ServerOptions, clone_replica

from ..flows import PROMPT, add_version, git, git_init, release, two_releases
from .conftest import TOKENS, Running, Served
from .test_events import Listener

# FastAPI silences this pydantic warning while it builds a route, with warnings.catch_warnings(),
# which is not thread-safe: two apps in one process building routes at once can let it
# through. Each replica is its own process in production; here they share one.
pytestmark = pytest.mark.filterwarnings(
    "ignore::pydantic.warnings.UnsupportedFieldAttributeWarning"
)

#: Short, so convergence by polling alone is quick to see.
INTERVAL = 0.5
#: How long a replica may take to hear of a move by polling: the interval and the git calls.
CONVERGE = INTERVAL + 2.0


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A committed repository: 1.0.0 and 1.1.0 released everywhere, 1.2.0 and 1.3.0 in dev
    and gated and approved for staging, and a token per role."""
    root = tmp_path_factory.mktemp("seed") / "repo"
    two_releases(root)
    for version in ("1.2.0", "1.3.0"):
        add_version(root, version)
        release(root, version, envs=("dev",))
        reg = Registry(Repo(root))
        check_gate(reg, f"{PROMPT}@{version}", GateOptions(env="staging"))
        approve(reg, f"{PROMPT}@{version}", ApproveOptions(env="staging"), by="alice")
    served = Served(root, "")
    for key, (name, role, envs) in TOKENS.items():
        served.token(key, name, role, *envs)
    git_init(root)
    return root, served.tokens


@pytest.fixture
def remote(seed: tuple[Path, dict[str, Any]], tmp_path: Path) -> Path:
    """A bare remote of its own for each test."""
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed[0]), str(bare))
    return bare


class Replicas:
    """``n`` replicas of ``remote``, each a uvicorn server over its own clone."""

    def __init__(self, remote: Path, tokens: dict[str, Any], base: Path) -> None:
        self.remote, self.tokens, self.base = remote, tokens, base
        self.stack = ExitStack()
        self.nodes: list[Served] = []

    def start(self, n: int, interval: float = INTERVAL) -> list[Served]:
        for i in range(len(self.nodes), len(self.nodes) + n):
            clone = clone_replica(str(self.remote), self.base / f"replica-{i}", timeout=30)
            self.nodes.append(self.run(clone, interval))
        for node in self.nodes:
            wait_for(partial(ready, node), "a replica did not become ready")
        return self.nodes

    def run(self, clone: Path, interval: float = INTERVAL) -> Served:
        options = ServerOptions(
            poll_interval=0.05, sync_from=str(self.remote), sync_interval=interval, sync_timeout=10
        )
        running = self.stack.enter_context(Running(clone, options))
        return Served(clone, running.url, self.tokens)


@pytest.fixture
def replicas(remote: Path, seed: tuple[Path, dict[str, Any]], tmp_path: Path) -> Iterator[Replicas]:
    group = Replicas(remote, seed[1], tmp_path)
    with group.stack:
        yield group


def ready(node: Served) -> bool:
    with node.client() as c:
        return c.get("/readyz").status_code == 200


def wait_for(check: Callable[[], bool], message: str, timeout: float = 15) -> float:
    """Seconds until ``check()`` holds."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < timeout, message
        time.sleep(0.02)
    return time.monotonic() - start


def serving(node: Served, env: str) -> str:
    with node.client("viewer") as c:
        r = c.get(f"/v1/prompts/{PROMPT}", params={"env": env})
    assert r.status_code == 200, r.text
    version: str = r.json()["version"]
    return version


def serves(node: Served, env: str, version: str) -> bool:
    return serving(node, env) == version


def at(node: Served, commit: str) -> bool:
    return git(node.root, "rev-parse", "HEAD").strip() == commit


def race(calls: list[Callable[[], httpx.Response]]) -> list[httpx.Response]:
    """Run ``calls`` at once (released together by a barrier)."""
    barrier = threading.Barrier(len(calls))
    out: list[httpx.Response | None] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        out[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(r is not None for r in out)
    return [r for r in out if r is not None]


def promote_call(node: Served, version: str, **extra: Any) -> Callable[[], httpx.Response]:
    def call() -> httpx.Response:
        body = {"version": version, "to": "staging", "reason": f"ship {version}", **extra}
        with node.client("releaser") as c:
            return c.post(f"/v1/prompts/{PROMPT}/promotions", json=body)

    return call


def assert_converged(nodes: list[Served], remote: Path) -> list[int]:
    """Every clone at the remote's commit, with one linear audit chain that verifies."""
    tip = git(remote, "rev-parse", "main").strip()
    assert git(remote, "rev-list", "--merges", "main") == ""
    for node in nodes:
        wait_for(partial(at, node, tip), "a replica did not sync")
        report = verify(Repo(node.root))
        assert report.ok, report.problems
    chains = [(n.root / "audit/artifact-audit-log.md").read_bytes() for n in nodes]
    assert all(c == chains[0] for c in chains)
    seqs = [e.seq for e in AuditLog(nodes[0].root).entries()]
    assert seqs == list(range(1, len(seqs) + 1))
    return seqs


def staging_moves(root: Path, since: int) -> list[str]:
    return [
        e.to_version or ""
        for e in AuditLog(root).entries(action="promote")
        if e.seq > since and e.env == "staging"
    ]


def head_seq(root: Path) -> int:
    return max(e.seq for e in AuditLog(root).entries())


def test_two_replicas_racing_promotions_one_wins_one_409(replicas: Replicas, remote: Path) -> None:
    a, b = replicas.start(2)
    assert serving(a, "staging") == serving(b, "staging") == "1.1.0"
    base = head_seq(a.root)
    responses = race(
        [
            promote_call(a, "1.2.0", expect="1.1.0"),
            promote_call(b, "1.3.0", expect="1.1.0"),
        ]
    )
    assert sorted(r.status_code for r in responses) == [201, 409], [r.text for r in responses]
    winner = "1.2.0" if responses[0].status_code == 201 else "1.3.0"
    loser = next(r for r in responses if r.status_code == 409)
    assert loser.headers["content-type"] == "application/problem+json"
    assert loser.json()["current"] == winner
    for node in (a, b):
        wait_for(partial(serves, node, "staging", winner), "no convergence", CONVERGE)
    assert_converged([a, b], remote)
    assert staging_moves(a.root, base) == [winner]


def test_a_lost_push_is_redone_on_the_new_state(replicas: Replicas, remote: Path) -> None:
    """Both pushes are held by the remote's hook until both are in: one ref update wins,
    the other replica re-runs its write on the new state. A complaint is redone and both
    are kept; a promotion without ``expect`` finds its pointer moved and is a 409."""
    a, b = replicas.start(2)
    hold = Hold(remote)
    base = head_seq(a.root)

    def complaint(node: Served, text: str) -> Callable[[], httpx.Response]:
        def call() -> httpx.Response:
            with node.client("author") as c:
                return c.post(
                    f"/v1/prompts/{PROMPT}/complaints", json={"complaint": text, "env": "prod"}
                )

        return call

    responses = hold.both([complaint(a, "too terse"), complaint(b, "wrong language")])
    assert [r.status_code for r in responses] == [201, 201], [r.text for r in responses]
    responses = hold.both([promote_call(a, "1.2.0"), promote_call(b, "1.3.0")])
    assert sorted(r.status_code for r in responses) == [201, 409], [r.text for r in responses]
    loser = next(r for r in responses if r.status_code == 409).json()
    assert "another replica" in loser["detail"]
    seqs = assert_converged([a, b], remote)
    complaints = [e for e in AuditLog(a.root).entries(action="complaint") if e.seq > base]
    assert sorted((e.reason or "").rsplit(": ", 1)[-1] for e in complaints) == [
        "too terse",
        "wrong language",
    ]
    assert len(staging_moves(a.root, base)) == 1
    assert seqs[-1] > base


class Hold:
    """A pre-receive hook on the remote that holds pushes until two have arrived."""

    def __init__(self, remote: Path) -> None:
        self.dir = remote
        hook = remote / "hooks" / "pre-receive"
        hook.write_text(
            "#!/bin/sh\ncat >/dev/null\n"
            f'd="{remote}"\n'
            'if [ -e "$d/hold" ]; then\n'
            '  touch "$d/entered.$$"\n'
            "  i=0\n"
            '  while [ ! -e "$d/release" ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done\n'
            "fi\nexit 0\n"
        )
        hook.chmod(0o755)

    def entered(self) -> int:
        return len(list(self.dir.glob("entered.*")))

    def both(self, calls: list[Callable[[], httpx.Response]]) -> list[httpx.Response]:
        for f in [*self.dir.glob("entered.*"), self.dir / "release"]:
            f.unlink(missing_ok=True)
        (self.dir / "hold").touch()
        out: list[httpx.Response | None] = [None, None]

        def run(i: int) -> None:
            out[i] = calls[i]()

        threads = [threading.Thread(target=run, args=(i,)) for i in (0, 1)]
        threads[0].start()
        wait_for(lambda: self.entered() == 1, "the first push did not reach the remote")
        threads[1].start()
        wait_for(lambda: self.entered() == 2, "the second push did not reach the remote")
        (self.dir / "hold").unlink()
        (self.dir / "release").touch()
        for t in threads:
            t.join(60)
        return [r for r in out if r is not None]


def test_three_replicas_agree_and_every_listener_hears_the_winner(
    replicas: Replicas, remote: Path
) -> None:
    nodes = replicas.start(3)
    listeners = [Listener(n) for n in nodes]
    responses = race(
        [
            promote_call(nodes[0], "1.2.0", expect="1.1.0"),
            promote_call(nodes[1], "1.3.0", expect="1.1.0"),
            promote_call(nodes[2], "1.2.0", expect="1.1.0"),
        ]
    )
    assert sorted(r.status_code for r in responses) == [201, 409, 409], [r.text for r in responses]
    winner = next(r for r in responses if r.status_code == 201).json()["move"]["version"]
    for listener in listeners:
        _, kind, data = listener.next(timeout=CONVERGE)
        assert (kind, data["env"], data["version"]) == ("pointer", "staging", winner)
        listener.stop = True
    for node in nodes:
        assert serving(node, "staging") == winner
    assert_converged(nodes, remote)


def test_sse_on_one_replica_hears_a_rollback_made_through_another(
    replicas: Replicas, remote: Path
) -> None:
    a, b = replicas.start(2)
    listener = Listener(b)
    start = time.monotonic()
    with a.client("releaser") as c:
        r = c.post(f"/v1/prompts/{PROMPT}/rollbacks", json={"reason": "bad", "env": "prod"})
    assert r.status_code == 200, r.text
    _, kind, data = listener.next(timeout=CONVERGE)
    assert (kind, data["env"], data["action"]) == ("pointer", "prod", "rollback-start")
    assert time.monotonic() - start < CONVERGE
    listener.stop = True
    assert serving(b, "prod") == data["version"]
    assert_converged([a, b], remote)


def test_post_sync_fetches_at_once(replicas: Replicas, remote: Path, tmp_path: Path) -> None:
    """A push made straight to the remote (another replica, a CI job) is served by the
    replica as soon as a webhook calls ``POST /v1/sync`` (long before its own next sync)."""
    (a,) = replicas.start(1, interval=600)
    outside = tmp_path / "outside"
    git(tmp_path, "clone", "-q", str(remote), str(outside))
    promote_direct(outside, "1.2.0")
    with a.client() as c:
        assert c.post("/v1/sync").status_code == 401
    with a.client("viewer") as c:
        r = c.post("/v1/sync")
    assert r.status_code == 200, r.text
    assert r.json()["moved"] is True and r.json()["synced"] is True
    assert serving(a, "staging") == "1.2.0"


def promote_direct(root: Path, version: str) -> None:
    """Promote in a plain clone through the library and push, as a CLI user would."""
    from promptgov import PromoteOptions, promote

    git(root, "config", "user.name", "Ops")
    git(root, "config", "user.email", "ops@example.com")
    promote(
        Registry(Repo(root)),
        f"{PROMPT}@{version}",
        PromoteOptions(to="staging", reason="from the CLI"),
        by="alice",
    )
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "promote", "--allow-empty")
    git(root, "push", "-q", "origin", "HEAD:main")


def test_a_remote_that_is_down_leaves_the_replica_serving(
    replicas: Replicas, remote: Path, tmp_path: Path
) -> None:
    (a,) = replicas.start(1)
    away = tmp_path / "away.git"
    remote.rename(away)
    try:
        with a.client("viewer") as c:
            assert c.post("/v1/sync").status_code == 503
            assert serving(a, "prod") == "1.1.0"
            r = c.get("/readyz")
            assert r.status_code == 200
            assert r.json()["sync"]["remote"] == "unreachable"
            assert str(away) not in r.text and str(remote) not in r.text
            metrics = c.get("/metrics").text
        assert "promptgov_sync_lag_seconds" in metrics
        assert "promptgov_sync_remote_up 0.0" in metrics
        before = (a.root / "audit/artifact-audit-log.md").read_bytes()
        r = promote_call(a, "1.2.0")()
        assert r.status_code == 503, r.text
        assert (a.root / "audit/artifact-audit-log.md").read_bytes() == before
        assert serving(a, "staging") == "1.1.0"
    finally:
        away.rename(remote)
    with a.client("viewer") as c:
        assert c.post("/v1/sync").status_code == 200
    assert promote_call(a, "1.2.0")().status_code == 201


@pytest.fixture
def stale_clone(remote: Path, tmp_path: Path) -> Path:
    return clone_replica(str(remote), tmp_path / "stale", timeout=30)


def test_readyz_waits_for_the_first_sync(
    replicas: Replicas, remote: Path, stale_clone: Path, tmp_path: Path
) -> None:
    away = tmp_path / "away.git"
    remote.rename(away)
    try:
        node = replicas.run(stale_clone)
        with node.client("viewer") as c:
            r = c.get("/readyz")
            assert r.status_code == 503
            assert r.json()["sync"]["synced"] is False
            assert serving(node, "prod") == "1.1.0"
        away.rename(remote)
        wait_for(lambda: ready(node), "not ready after the remote came back", CONVERGE)
    finally:
        if away.exists():
            away.rename(remote)


def test_a_clone_of_another_remote_is_refused(remote: Path, tmp_path: Path) -> None:
    from promptgov import Conflict

    clone = clone_replica(str(remote), tmp_path / "c", timeout=30)
    other = tmp_path / "other.git"
    shutil.copytree(remote, other)
    with pytest.raises(Conflict, match="another remote"):
        clone_replica(str(other), clone, timeout=30)
    assert subprocess.run(["git", "-C", str(clone), "status"], capture_output=True).returncode == 0


def test_cli_serve_sync_from_clones_under_the_state_dir(
    remote: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from promptgov.server import default_clone_dir

    from .test_cli_serve import _check, _free_port

    monkeypatch.setenv("PROMPTGOV_STATE_HOME", str(tmp_path / "state"))
    port = _free_port()
    exe = Path(sys.executable).with_name("promptgov")
    args = [str(exe), "serve", "--sync-from", str(remote), "--sync-interval", "1s"]
    with subprocess.Popen(
        [*args, "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as proc:
        try:
            _check(proc, port)
            wait_for(
                lambda: httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200,
                "the replica did not become ready",
            )
        finally:
            proc.terminate()
            proc.wait(10)
    clone = default_clone_dir(str(remote))
    assert clone.is_relative_to(tmp_path / "state" / "replicas")
    assert git(clone, "rev-parse", "HEAD") == git(remote, "rev-parse", "main")


def test_cli_serve_sync_from_errors(remote: Path, tmp_path: Path, cli: Any) -> None:
    r = cli("serve", "--sync-from", str(tmp_path / "nowhere.git"), "--repo", tmp_path / "c")
    assert r.exit_code == 2
    assert r.stderr.startswith("error: the git remote could not be cloned")
    assert len(r.stderr.splitlines()) <= 2
    assert not (tmp_path / "c").exists()
    r = cli("serve", "--sync-from", str(remote), "--sync-interval", "soon")
    assert r.exit_code == 2
    assert r.stderr.startswith("error: --sync-interval: 'soon' is not a duration")


def test_a_rewritten_remote_history_is_not_followed(
    replicas: Replicas, remote: Path, tmp_path: Path
) -> None:
    """A force-push that drops a move (and its audit entry) is refused: the replica keeps
    serving the history it has and says the remote diverged."""
    (a,) = replicas.start(1)
    assert promote_call(a, "1.2.0")().status_code == 201
    outside = tmp_path / "outside"
    git(tmp_path, "clone", "-q", str(remote), str(outside))
    git(outside, "reset", "-q", "--hard", "HEAD~1")
    git(outside, "push", "-q", "--force", "origin", "HEAD:main")
    with a.client("viewer") as c:
        r = c.post("/v1/sync")
        assert r.status_code == 409, r.text
        assert "history was rewritten" in r.json()["detail"]
        assert c.get("/readyz").json()["sync"]["remote"] == "diverged"
    assert serving(a, "staging") == "1.2.0"
    assert promote_call(a, "1.3.0")().status_code == 409
