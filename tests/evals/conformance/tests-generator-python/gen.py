def make_tests():
    out = []
    for n in range(4):
        out.append(
            {
                "vars": {"n": str(n)},
                "assert": [
                    {"type": "contains", "value": str(n), "metric": "has_n"},
                    {"type": "contains", "value": "2", "weight": 0.5},
                ],
            }
        )
    return out
