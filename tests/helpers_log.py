"""Shared by the log reader's tests: a spy on the fast engine."""

from __future__ import annotations

import pytest

import syncstats.io.log._templates as fastlog


class FastRows:
    """Counts the rows the fast path reads itself (not through the reference)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.rows = 0
        real = fastlog._assemble

        def spy(fast, *args):
            self.rows += fast.rows
            return real(fast, *args)

        monkeypatch.setattr(fastlog, "_assemble", spy)
