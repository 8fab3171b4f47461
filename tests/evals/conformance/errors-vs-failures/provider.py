def call_api(prompt, options, context):
    word = context["vars"]["word"]
    if word == "explode":
        return {"error": "the provider refused"}
    if word == "raise":
        raise RuntimeError("boom")
    if word == "nothing":
        return {"output": None}
    return {"output": prompt.upper()}
