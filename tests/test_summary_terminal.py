"""Data text in the summary's renderings (issue 13): no control character from the data
reaches the terminal, no newline from the data starts a line, long labels are shortened."""

from __future__ import annotations

import re

import pytest
from frames import dlq, dlq_entry, errors_for, hours, snap, snapshots
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import syncstats
from syncstats.analysis import batch_summary

#: What escape_terminal escapes, minus the layout's own newline.
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")

#: Text heavy in what a terminal acts on: ESC sequences, BEL, CR/LF, C1, bidi overrides.
NASTY = st.lists(
    st.one_of(
        st.sampled_from(["\x1b", "\x07", "\n", "\r", "\t", "\x00", "\x9b", "\x7f", "\u2028",
                         "\u202e", "\x1b[2J", "\nSync summary: 999/999", "|", "\n# ", "*",
                         "<b>", "```", "\r\n"]),
        st.characters(codec="utf-8", exclude_categories=["Cs"]),
    ),
    min_size=1, max_size=12,
).map("".join)


def data_with(names: list[str], types: list[str], message: str) -> syncstats.SyncData:
    """Two sources with a history (source names[0], names[1]), one with a single snapshot
    (names[2]); error types types[0], types[1] in the counters and the DLQ."""
    a, b, x = names
    rows = [snap(hours(h), 10 * h, h, source=a) for h in range(25)]
    rows += [snap(hours(h), 20 * h, 2 * h, source=b) for h in range(25)]
    rows.append(snap(hours(23), 46, 5, source=x))
    s = snapshots(rows)
    counts = [{types[0]: int(r.jobs_failed)} if r.source != b else
              {types[0]: int(r.jobs_failed) // 2, types[1]: int(r.jobs_failed) // 2}
              for r in s.itertuples()]
    d = dlq([dlq_entry(1, hours(10), types[0], message, source=a),
             dlq_entry(2, hours(20), types[1], message + " 2", source=b)])
    return syncstats.SyncData(snapshots=s, errors=errors_for(s, counts), dlq=d)


PLAIN = data_with(["a", "b", "x"], ["E1", "E2"], "plain message")


def renderings(data: syncstats.SyncData) -> tuple[str, str]:
    s = batch_summary(data, window="12h")
    return str(s), s.to_markdown()


PLAIN_TEXT, PLAIN_MD = renderings(PLAIN)


def test_plain_fixture_shape():
    text, md = renderings(PLAIN)
    s = batch_summary(PLAIN, window="12h")
    assert s.basis == "window" and s.session["source"].tolist() == ["x"]
    assert len(s.per_source) == 2 and len(s.top_errors) == 2 and len(s.top_signatures) == 2
    assert "Per source:" in text and "Since session start" in text
    assert "  a: " in text and "  x: " in text


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(names=st.lists(NASTY, min_size=3, max_size=3, unique=True),
       types=st.lists(NASTY, min_size=2, max_size=2, unique=True),
       message=NASTY)
def test_data_text_never_reaches_the_terminal_raw(names, types, message):
    text, md = renderings(data_with(names, types, message))
    plain_text, plain_md = PLAIN_TEXT, PLAIN_MD
    assert not CONTROL.search(text), repr(CONTROL.search(text))
    assert not CONTROL.search(md)
    # the layout decides the lines, never the data
    assert len(text.splitlines()) == len(plain_text.splitlines())
    assert len(md.splitlines()) == len(plain_md.splitlines())
    assert text.count("\n") == plain_text.count("\n")
    assert sum(line.startswith("Sync summary:") for line in text.splitlines()) == 1


def test_forged_headline_and_screen_clear_are_shown_escaped():
    forged = "x\x1b[2J\nSync summary: 999/999 succeeded"
    text, md = renderings(data_with([forged, "b", "c"], ["Boom\x07\r\n# Head", "E2"],
                                    "m\n| row"))
    assert "\x1b" not in text and "\x07" not in text and "\r" not in text
    assert "x\\u001b[2J\\nSync summary: 999/999 succeeded" in text
    assert "Boom\\u0007\\r\\n# Head" in text
    assert [ln for ln in text.splitlines() if ln.startswith("Sync summary:")] == [
        next(ln for ln in text.splitlines() if ln.startswith("Sync summary: 3"))]
    assert not any(ln.startswith(("# Head", "| row", "Sync summary: 999"))
                   for ln in md.splitlines())
    assert "| x\\\\u001b\\[2J\\\\nSync summary: 999/999 succeeded | 120 |" in md


def test_long_labels_are_shortened_in_html_only():
    long_type = "E" * 500
    data = data_with(["a", "b", "x"], [long_type, "E2"], "M" * 5000)
    s = batch_summary(data, window="12h")
    assert long_type in s.top_errors["error_type"].tolist()  # the frames keep the full text
    page = s._repr_html_()
    assert long_type not in page and "M" * 101 not in page
    assert f"<td>{'E' * 59}…</td>" in page
    assert long_type in str(s)  # the terminal text is escaped, not cut


@pytest.mark.parametrize("name", ["a\nb", "a\x1b[31mb", "a\u202eb"])
def test_session_source_and_capture_hint_are_escaped(name):
    s = batch_summary(data_with(["a", "b", name], ["E1", "E2"], "m"), window="12h")
    text = str(s)
    assert not CONTROL.search(text)
    hint = [ln for ln in text.splitlines() if ln.startswith("  syncstats snapshot")]
    assert len(hint) == 1 and hint[0].endswith("--source " + syncstats._text.escape_terminal(
        __import__("shlex").quote(name)))
