"""The ``syncstats`` parser as the CLI reference page shows it.

:func:`syncstats.cli.build_parser` formats its epilogs (examples, crontab lines) with
``RawDescriptionHelpFormatter``: their line breaks and ``--options`` are meant verbatim.
sphinx-argparse parses an epilog as reStructuredText, which joins the lines and turns
``--`` into a dash, so :func:`parser` hands it each epilog as a literal block instead:
the page shows exactly what ``syncstats COMMAND --help`` prints.
"""

from __future__ import annotations

import argparse
import textwrap

from syncstats.cli import build_parser


def _literal(text: str | None) -> str | None:
    if not text:
        return text
    return "::\n\n" + textwrap.indent(textwrap.dedent(text).strip("\n"), "   ")


def _walk(parser: argparse.ArgumentParser) -> None:
    parser.epilog = _literal(parser.epilog)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                _walk(sub)


def parser() -> argparse.ArgumentParser:
    """:func:`syncstats.cli.build_parser`, its epilogs as literal blocks."""
    p = build_parser()
    _walk(p)
    # The top-level epilog (what PATH, times and durations are) would come last, after
    # every command: show it with the description, before them.
    if p.epilog:
        p.description = f"{p.description or ''}\n\n{p.epilog}"
        p.epilog = None
    return p
