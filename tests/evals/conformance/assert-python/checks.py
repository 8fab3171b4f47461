def get_assert(output, context):
    return {"pass": "ok" in output, "score": 0.9 if "ok" in output else 0.1, "reason": "checked"}


def length_score(output, context):
    return len(output) / 10


def uses_vars(output, context):
    return context["vars"]["text"] == output and context["prompt"] == output


def broken(output, context):
    raise ValueError("boom")
