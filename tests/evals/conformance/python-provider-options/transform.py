def shout(output, context):
    return output.upper()
