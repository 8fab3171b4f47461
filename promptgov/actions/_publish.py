"""After a pointer moves: commit the governed files and bring the deploy branch along.

Runs after the transaction has committed, still best-effort: a git failure never undoes
a promotion or rollback; it is returned as a warning for the caller to show.
"""

from __future__ import annotations

from typing import Any

from ..errors import PromptGovError
from ..repo import Repo
from ..store.paths import AUDIT_FILE, CHANGELOG_FILE, OBJECTS_DIR, PROMPTS_DIR, REGISTRY_FILE

#: What a governance commit contains.
GOVERNED_PATHS = [REGISTRY_FILE, CHANGELOG_FILE, AUDIT_FILE, OBJECTS_DIR, PROMPTS_DIR, "logs"]


def after_move(
    repo: Repo, result: Any, *, action: str, extra: dict[str, str] | None = None
) -> None:
    """Commit the move (when the repository is a git work tree and config allows) and
    update the environment's deployment branch with a new commit and tag."""
    from .. import gitops

    if not repo.config.git.commit or not gitops.is_git_repo(repo.root):
        return
    move = result.move
    message = gitops.structured_message(
        action=action,
        prompt=result.prompt,
        env=result.env,
        from_version=move.previous,
        to_version=move.version,
        reason=move.reason,
        authorized_by=move.by,
        extra={"Promptgov-Audit-Seq": str(result.audit_seq), **(extra or {})},
    )
    paths = [p for p in GOVERNED_PATHS if (repo.root / p).exists()]
    try:
        result.git_commit = gitops.commit_paths(repo.root, paths, message)
        env_cfg = repo.config.environment(result.env)
        if env_cfg is not None and env_cfg.deploy_branch:
            tag = (
                f"{result.prompt}-{result.env}-{move.version}-{result.audit_seq}"
                if repo.config.git.tag_deploys
                else None
            )
            gitops.update_deploy_branch(repo.root, env_cfg.deploy_branch, paths, message, tag=tag)
    except PromptGovError as exc:
        result.warnings.append(f"git: {exc.message}")
