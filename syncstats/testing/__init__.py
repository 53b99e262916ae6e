"""Test and demo support: the worker simulator (:mod:`syncstats.testing.simulate`, the
``syncstats simulate`` command) and the small example frames docstrings use
(:mod:`syncstats.testing.examples`)."""

from .examples import example_errors, example_snapshots

__all__ = ["example_errors", "example_snapshots"]
