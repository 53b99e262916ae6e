"""Text from the data, made safe for where it is shown: terminals and labels.

One home for the rules, used by the CLI, the summary text, the plots and the report:
data can hold any character, so a source name or an error message must never be able to
move a terminal's cursor, clear its screen, forge a line of output, or make a layout
engine work on 20,000 characters.
"""

from __future__ import annotations

import math
import os
import re

__all__ = ["escape_terminal", "shorten", "MAX_LABEL"]

#: Characters that a terminal acts on or that break a line: C0 controls (ESC, BEL, CR,
#: LF, TAB, ...), DEL, C1 controls (CSI U+009B acts as ESC [ on many terminals), and the
#: Unicode line/paragraph separators and bidi overrides, which reorder what is shown.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")

#: Default width, in characters, of a data-derived label in a plot or table.
MAX_LABEL = 60


def _escape(match: re.Match[str]) -> str:
    ch = match.group(0)
    return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(ch) or f"\\u{ord(ch):04x}"


def escape_terminal(text: object) -> str:
    r"""*text* with every control character shown as an escape, for a terminal.

    Newlines and carriage returns become ``\n`` / ``\r`` (so data cannot start a line of
    its own), ESC, BEL and the other C0/C1 controls ``\u001b`` etc., bidi overrides
    likewise. Printable text, non-ASCII letters included, is kept as it is.

    Examples
    --------
    >>> escape_terminal("worker-a")
    'worker-a'
    >>> escape_terminal("x\x1b[2J\nSync summary: 999/999")
    'x\\u001b[2J\\nSync summary: 999/999'
    """
    return _CONTROL.sub(_escape, str(text))


def shorten(text: object, width: int = MAX_LABEL) -> str:
    """*text* cut to at most *width* characters with an ellipsis, for a label.

    The full text stays in the frames; labels in plots and tables are shortened so one
    huge value cannot stall a layout engine. Control characters are escaped first, so a
    label is always one line.

    Examples
    --------
    >>> shorten("PlexNotFound")
    'PlexNotFound'
    >>> shorten("E" * 100, 10)
    'EEEEEEEEE…'
    """
    if width < 1:
        raise ValueError(f"width must be at least 1, found {width}")
    # escape at most what can be shown: a 1 MB value costs no more than a short one
    s = escape_terminal(str(text)[: width + 1])
    return s if len(s) <= width else s[: width - 1] + "…"


def clean_text(text: str) -> str:
    r"""*text* made encodable as UTF-8, as the frames' string columns need.

    A file name that is not UTF-8 (decoded by Python with ``surrogateescape``) shows its
    bytes as ``\xff``; other lone surrogates (a JSON ``"\ud800"`` escape) show as
    ``\ud800``, instead of failing later in pandas/pyarrow.

    Examples
    --------
    >>> clean_text("PlexNotFound"), clean_text("w" + chr(0xDCFF)), clean_text(chr(0xD800))
    ('PlexNotFound', 'w\\xff', '\\ud800')
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        try:
            return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:
            return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def number_text(value: int | float) -> str:
    """A number in short scientific form, also an integer too large for a float.

    Examples
    --------
    >>> number_text(10**40), number_text(-(10**400))
    ('1.000e+40', '-1e+400 (about)')
    """
    try:
        return f"{value:.3e}"
    except OverflowError:
        sign = "-" if value < 0 else ""
        return f"{sign}1e+{int(math.log10(abs(value)))} (about)"


def clean_path(path: str | os.PathLike[str]) -> str:
    """A path as text for the frames (see :func:`clean_text`)."""
    return clean_text(os.fspath(path))
