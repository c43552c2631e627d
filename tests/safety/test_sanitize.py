"""HTML stripping with nh3: whole texts, JSON values and streams."""

from __future__ import annotations

import pytest

from steadyllm.safety.sanitize import StreamingStripper, strip_html, strip_html_values


@pytest.mark.parametrize(
    ("text", "clean"),
    [
        ("plain text, 3 < 5 & cheap", "plain text, 3 < 5 & cheap"),
        ("<b>Booked</b> for <i>Tuesday</i>", "Booked for Tuesday"),
        ("Hi<script>alert(1)</script> there", "Hi there"),
        ("a<style>p{}</style>b", "ab"),
        ('<img src=x onerror="alert(1)">done', "done"),
        ("<!-- note -->visible", "visible"),
        # Escaped markup alone is text and renders as text: left as it is.
        ("&lt;script&gt;alert(1)&lt;/script&gt;ok", "&lt;script&gt;alert(1)&lt;/script&gt;ok"),
        # Once a real tag makes us unescape, what decodes to a tag is cleaned again.
        ("<b>x</b>&lt;script&gt;alert(1)&lt;/script&gt;", "x"),
        ("AT&amp;T <br> line", "AT&T  line"),
    ],
)
def test_strip_html(text: str, clean: str) -> None:
    assert strip_html(text)[0] == clean


def test_untouched_text_reports_no_change() -> None:
    assert strip_html("no tags here") == ("no tags here", False)
    assert strip_html("<b>x</b>")[1] is True


def test_json_values_are_stripped_recursively() -> None:
    value = {"a": "<b>x</b>", "b": [1, "<i>y</i>", {"c": "z"}], "d": None}
    assert strip_html_values(value) == ({"a": "x", "b": [1, "y", {"c": "z"}], "d": None}, True)
    same = {"a": "x", "b": [1]}
    assert strip_html_values(same) == (same, False)


@pytest.mark.parametrize("size", [1, 2, 5, 13])
def test_streamed_text_is_stripped_like_the_whole(size: int) -> None:
    text = "Hello <b>world</b>, here<script>var x = '<p>';</script> is 3 < 4 <i>ok</i>."
    stripper = StreamingStripper()
    out = "".join(stripper.feed(text[i : i + size]) for i in range(0, len(text), size))
    out += stripper.flush()
    assert out == "Hello world, here is 3 < 4 ok."
    assert stripper.changed


def test_an_unclosed_angle_bracket_is_released_at_the_end() -> None:
    stripper = StreamingStripper()
    assert stripper.feed("a <") == "a "
    assert stripper.flush() == "<"
