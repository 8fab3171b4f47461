"""Features derived from one output's text: is it a refusal, is it valid JSON.

The refusal detector is deliberately simple and documented (``docs/monitoring.md``): an
output is a refusal when its finish reason is ``content_filter``, or when its opening (first
200 characters, curly apostrophes folded) matches one of the stock refusal phrasings below.
It looks only at the opening because models refuse up front; a helpful answer that later
says "I can't promise…" is not a refusal. Rates, not single verdicts, are what drift compares,
so a detector with a stable bias still detects a change in the refusal rate.
"""

from __future__ import annotations

import json
import re

__all__ = ["REFUSAL_PATTERN", "is_json", "is_refusal"]

_CANT = (
    r"(?:can(?:no|')?t|cannot|won'?t"
    r"|am\ unable\ to|am\ not\ able\ to|'m\ unable\ to|'m\ not\ able\ to)"
)
REFUSAL_PATTERN = re.compile(
    rf"""^[\W_]*(?:
        (?:i'?m|i\ am)\ (?:so\ |very\ |really\ |truly\ )?sorry\b[^.!?\n]{{0,80}}?\bi\ {_CANT}
      | (?:sorry|unfortunately|apologies),?\ (?:but\ )?i\ {_CANT}
      | i\ {_CANT}\ (?:help|assist|provide|comply|do\ that|fulfil|fulfill|answer|share|discuss
                     |create|generate|write|support|engage|continue|respond)
      | i\ (?:must|have\ to)\ (?:decline|refuse)
      | i\ apologi[sz]e,?\ but
      | as\ an\ ai\b
    )""",
    re.IGNORECASE | re.VERBOSE,
)
_OPENING = 200
_FENCE = re.compile(r"^```[a-zA-Z0-9_-]*\s*\n(.*)\n```\s*$", re.DOTALL)


def is_refusal(output: str | None, finish_reason: str | None = None) -> bool:
    """True when the call was refused: filtered by the provider, or a stock refusal opening."""
    if finish_reason == "content_filter":
        return True
    if not output:
        return False
    return REFUSAL_PATTERN.match(output[:_OPENING].replace("\u2019", "'")) is not None


def is_json(output: str | None) -> bool:
    """True when the output is a JSON object or array, optionally inside a ``` code fence."""
    if not output:
        return False
    text = output.strip()
    if text[:3] == "```":
        fenced = _FENCE.match(text)
        if fenced is None:
            return False
        text = fenced.group(1).strip()
    if text[:1] not in ("{", "["):
        return False
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True
