"""Test and demo support: the worker simulator (``syncstats.testing.simulate``, the
``syncstats simulate`` command) and the small example frames docstrings use
(``syncstats.testing.examples``)."""

from .examples import example_errors, example_snapshots

__all__ = ["example_errors", "example_snapshots"]
