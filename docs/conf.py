"""Sphinx configuration: the API reference (autodoc + napoleon) and the user guide.

Build (warnings are errors, as in CI's `tests/docs/test_docs.py`):

    python -m sphinx -W --keep-going -b html docs docs/_build/html
"""

import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "docs" / "_ext"))
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tf_smvae  # noqa: E402

project = "tf_smvae"
author = "tf_smvae authors"
copyright = "2026, tf_smvae authors"  # noqa: A001
release = tf_smvae.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "markdown_docstrings",
]

# Results tables and figures under docs/results are linked from the guide, not built.
exclude_patterns = ["_build", "results", "**/README.md"]
source_suffix = {".rst": "restructuredtext"}

autosummary_generate = False
autodoc_default_options = {
    "members": True,
    "undoc-members": False,
    "show-inheritance": True,
    "member-order": "bysource",
}
autodoc_typehints = "description"
autodoc_inherit_docstrings = False
# Keras and TFP base classes carry docstrings in their own dialects; we document ours only.
autoclass_content = "class"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_use_ivar = True
# Our namedtuples list their fields under "Fields:".
napoleon_custom_sections = [("Fields", "Attributes")]

html_theme = "alabaster"
html_static_path = []
html_theme_options = {"description": "Speed-measure adaptive MCMC for VAEs and TFP targets"}

nitpicky = False
