"""The page's escaping: strings from a checkpoint never become markup or end a <script>."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from emb_cli.render.report_html import esc, script_json

HOSTILE = [
    "</script><script>window.pwned=1</script>",
    "<!--",
    "<img src=x onerror=alert(1)>",
    "a&amp;b",
    "\u2028\u2029",
    "\"quoted\" 'single'",
]


def test_script_json_has_no_markup_characters_and_round_trips() -> None:
    text = script_json({"token": HOSTILE, "x": [1.5, float("nan")]})
    assert not set("<>&\u2028\u2029") & set(text)
    assert json.loads(text) == {"token": HOSTILE, "x": [1.5, None]}


@given(st.lists(st.text()))
def test_script_json_round_trips_any_text(tokens: list[str]) -> None:
    text = script_json(tokens)
    assert "</" not in text.lower() and "<!--" not in text
    assert json.loads(text) == tokens


def test_esc_quotes_attributes_and_text() -> None:
    assert esc(HOSTILE[0]) == "&lt;/script&gt;&lt;script&gt;window.pwned=1&lt;/script&gt;"
    assert esc('"x"') == "&quot;x&quot;"
    assert esc(None) == ""
