def call_api(prompt, options, context):
    if "refuse" in prompt:
        return {"output": "I'm sorry, but I can't help with that request."}
    return {"output": prompt}
