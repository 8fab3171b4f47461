"""The server-drawn SVG charts: well-formed, one bar per value, heights in proportion."""

from __future__ import annotations

from defusedxml import ElementTree

from promptgov.server.dashboard._charts import bar_chart

SVG = "{http://www.w3.org/2000/svg}"


def test_bars_are_in_proportion_and_a_missing_value_has_no_bar() -> None:
    svg = bar_chart(
        "Pass rate <of> support-reply",
        [("1.0.0", 0.5), ("1.1.0", 1.0), ("1.2.0", None)],
        top=1.0,
    )
    root = ElementTree.fromstring(str(svg))
    assert root.get("role") == "img"
    assert root.get("aria-label") == "Pass rate <of> support-reply"
    bars = root.findall(f"{SVG}rect")
    heights = [float(b.get("height")) for b in bars]
    assert len(bars) == 2 and heights[1] == 2 * heights[0]
    assert [b.find(f"{SVG}title").text for b in bars] == ["1.0.0: 0.5", "1.1.0: 1"]
    labels = [t.text for t in root.findall(f"{SVG}text")]
    assert "–" in labels and "1.2.0" in labels


def test_a_label_cannot_break_out_of_the_svg() -> None:
    svg = str(bar_chart('"/><script>x</script>', [("<b>", 1.0)]))
    root = ElementTree.fromstring(svg)
    assert not root.findall(f".//{SVG}script") and "<script>" not in svg
