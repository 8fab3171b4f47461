def call_api(prompt, options, context):
    if options.get("config", {}).get("mode") == "reverse":
        return {"output": prompt[::-1]}
    return {"output": prompt}
