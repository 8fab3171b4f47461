"""The CLI reference (``docs/cli-reference.md``), generated from the commands themselves."""

from __future__ import annotations

from typing import Any


def _commands(group: Any, prefix: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for name in sorted(group.commands):
        cmd = group.commands[name]
        full = f"{prefix} {name}"
        if hasattr(cmd, "commands"):
            out += _commands(cmd, full)
        else:
            out.append((full, cmd))
    return out


def _param_row(p: Any) -> str:
    if p.param_type_name == "argument":
        names = (p.metavar or p.name or "").upper()
        help_ = getattr(p, "help", None) or ""
    else:
        names = ", ".join(f"`{o}`" for o in [*p.opts, *p.secondary_opts])
        help_ = p.help or ""
        default: Any = p.default
        if default not in (None, False, (), [], "") and not p.is_flag:
            help_ += f" (default: `{default}`)"
    return f"| {names} | {help_.replace('|', '/')} |"


def reference(app: Any) -> str:
    """Markdown describing every command, argument and option of ``app``."""
    import typer.main

    root = typer.main.get_command(app)
    lines = [
        "# promptgov CLI reference",
        "",
        "<!-- Generated from the commands' own help by `python -m promptgov.cli._reference`; "
        "a test keeps it current. -->",
        "",
        "Exit codes: 0 success, 1 a check or gate failed (3: a gate was inconclusive), "
        "2 bad input or a refusal. With `--json`, a refused command also prints "
        '`{"error": <message>, "exit_code": <code>, "kind": <error class>, …}` on stdout '
        "(the message is on stderr as well); a usage error (an unknown option, a missing "
        'argument) prints the same object with `"kind": "UsageError"`.',
        "",
    ]
    for name, cmd in _commands(root, "promptgov"):
        lines += [f"## `{name}`", "", (cmd.help or "").strip(), ""]
        params = [p for p in cmd.params if p.name not in ("help",)]
        if params:
            lines += ["| argument / option | meaning |", "| --- | --- |"]
            lines += [_param_row(p) for p in params]
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    import sys
    from pathlib import Path

    from . import app

    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/cli-reference.md")
    target.write_text(reference(app), encoding="utf-8")
    print(f"wrote {target}")
