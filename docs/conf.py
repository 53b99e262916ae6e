"""Sphinx configuration of the syncstats documentation (``make docs``).

Offline by design: no intersphinx inventories, no remote theme assets, and the notebooks
are rendered from their committed outputs (``nb_execution_mode = "off"``).
"""

from __future__ import annotations

import os
import sys

# Import the checkout's package, not an installed copy.
sys.path.insert(0, os.path.abspath(".."))
sys.path.insert(0, os.path.abspath("."))  # _cli.py: the parser of the CLI page

import syncstats  # noqa: E402

project = "syncstats"
author = "the syncstats authors"
copyright = "2026, the syncstats authors"
version = release = syncstats.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "myst_nb",  # MyST Markdown pages and .ipynb notebooks (loads myst_parser itself)
    "sphinxarg.ext",
]

exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints"]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
templates_path = ["_templates"]
highlight_language = "text"  # literal blocks without a language (CLI examples, layouts)

# -- MyST / myst-nb -------------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
nb_execution_mode = "off"  # the notebooks are committed executed; never run them here
nb_merge_streams = True

# -- autodoc / autosummary / numpydoc -------------------------------------------------
autosummary_generate = True  # stub pages under api/generated/ (git-ignored)
autosummary_imported_members = True
autodoc_typehints = "none"  # numpydoc docstrings carry the types
autodoc_member_order = "bysource"
toc_object_entries_show_parents = "hide"  # "On this page": record_success, not SyncStats...
numpydoc_show_class_members = False  # the class templates list members themselves
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# -- references ------------------------------------------------------------------------
# Nitpicky: every cross-reference must resolve. There are no intersphinx inventories
# (the build is offline), so references to other projects' objects are ignored here.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(pandas|pd|numpy|np|matplotlib|mpl|plt|dask|distributed|pyarrow|pa"
               r"|papermill|nbformat|nbconvert|filelock|orjson|adbc_driver_sqlite)(\..*)?"),
    (r"py:.*", r"(os|pathlib|typing|collections|datetime|json|sqlite3|pickle|argparse"
               r"|zoneinfo|io|gzip|re|dataclasses|enum|warnings)(\..*)?"),
    (r"py:.*", r"(Path|PathLike|Any|Iterable|Sequence|Mapping|Callable|Iterator)"),
    (r"py:class", r"(str|int|float|bool|bytes|dict|list|tuple|set|None|object|type)"),
    (r"py:exc", r"(ValueError|TypeError|OSError|KeyError|FileNotFoundError|Warning"
                r"|UserWarning|RuntimeError|Exception)"),
]
# Cross-references in docstrings of modules this branch does not edit (relative names
# that do not resolve from the public ``syncstats.<name>`` page, or private modules):
nitpick_ignore = [
]

# -- HTML ------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"syncstats {release}"
html_static_path: list[str] = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "navbar_align": "left",
    "header_links_before_dropdown": 4,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_show_sourcelink = False
# The left sidebar lists a section's pages: only the API reference has any; elsewhere it
# would be an empty column.
html_sidebars = {
    page: [] for page in (
        "index", "getting-started", "formats", "numbers", "recipes", "cli", "security",
        "notebooks/*",
    )
}


def _cli_always_outdated(app, env, added, changed, removed):
    """Re-read the CLI page on every build: sphinx-argparse records no dependency on
    ``syncstats/cli.py``, so an incremental build would keep a stale page."""
    return ["cli"]


def setup(app):
    app.connect("env-get-outdated", _cli_always_outdated)
