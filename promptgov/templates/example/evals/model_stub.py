"""A deterministic local stand-in for a chat model, for offline evals of the example.

It answers the way a well-behaved model would follow the prompt's instructions: each
instruction the prompt contains adds the matching behaviour to the reply, and a
missing instruction leaves the model's default (sometimes risky) behaviour. A worse
prompt therefore really scores worse.
"""

import hashlib
import json


def _reply(prompt: str, vars: dict) -> str:
    p = prompt.lower()
    name = vars.get("customer_name") or "there"
    order = vars.get("order_id") or "your order"
    message = (vars.get("message") or "").rstrip(".")
    parts = [f"Hi {name}," if "by name" in p else "Hello,"]
    if "apologize" in p or "apologise" in p:
        parts.append("I'm sorry for the inconvenience.")
    parts.append(f'You wrote: "{message}".')
    if "order number" in p:
        parts.append(f"I have looked up order {order}.")
    if "next step" in p:
        parts.append("Next step: a specialist will contact you within 24 hours.")
    if "never promise" not in p:
        parts.append("We guarantee a full refund today.")
    if "in detail" in p:
        parts.append(
            "To explain in detail, our process has several stages, each reviewed by a "
            "dedicated team member who checks the carrier records, the warehouse logs "
            "and the payment history before any decision is made."
        )
    if "sign off" in p:
        parts.append("Best regards, Acme Support")
    return " ".join(parts)


def call_api(prompt, options, context):
    vars = (context or {}).get("vars", {})
    output = _reply(prompt, vars)
    prompt_tokens = len(prompt.split())
    completion_tokens = len(output.split())
    return {
        "output": output,
        "tokenUsage": {
            "total": prompt_tokens + completion_tokens,
            "prompt": prompt_tokens,
            "completion": completion_tokens,
        },
        "cost": round((prompt_tokens * 0.15 + completion_tokens * 0.6) / 1_000_000, 8),
        "metadata": {
            "stub": hashlib.sha256(json.dumps(vars, sort_keys=True).encode()).hexdigest()[:8]
        },
    }
