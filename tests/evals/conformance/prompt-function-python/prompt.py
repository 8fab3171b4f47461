def text_prompt(context):
    topic = context["vars"]["topic"]
    return f"Write about {topic}! provider={context['provider']['id']}"


def chat_prompt(context):
    return [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Tell me about " + context["vars"]["topic"] + "!"},
    ]
