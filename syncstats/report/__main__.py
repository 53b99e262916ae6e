"""``python -m syncstats.report NOTEBOOK...``: re-execute notebooks in place."""

import sys

from .render import execute_in_place

for arg in sys.argv[1:]:
    print(f"executing {arg}", file=sys.stderr)
    execute_in_place(arg)
