"""Sphinx configuration of the course website (``rlhf-edu site build --out DIR``).

``rlhf_edu.app.site`` copies this folder, the lessons, the syllabus, the instructor guide and
the notebook pages into a staging folder and runs Sphinx there; this file is read from that
folder. The site works offline: MathJax is served from the site itself
(``sphinx-mathjax-offline``), search is Sphinx's client-side index, and the furo theme loads no
external font or script. Notebooks are rendered from their stored outputs, never executed.
"""

from __future__ import annotations

project = "rlhf-edu"
author = "rlhf-edu developers"
copyright = "rlhf-edu developers, MIT licence"  # noqa: A001 (Sphinx's name)
html_title = "rlhf-edu: from a Q-table to RLHF on GPT-2"

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # copies MathJax 3 into _static/mathjax (no CDN)
]

exclude_patterns = ["_build", "student/**", ".doctrees", "**/.ipynb_checkpoints"]
root_doc = "index"

# MathJax from the site itself, not from a CDN.
mathjax_path = "mathjax/tex-chtml.js"

# MyST: $...$ and $$...$$ as in the notebooks, \begin{align} blocks, anchors for headings.
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

# Notebooks: the stored outputs, never executed in the site build (CI time; the notebook tests
# check the outputs are current). No ipywidgets JavaScript from a CDN: a widget's output falls
# back to its text form.
nb_execution_mode = "off"
nb_merge_streams = True
nb_ipywidgets_js: dict[str, dict[str, str]] = {}
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None)]

# API reference from the docstrings (Google style, as the library writes them).
autosummary_generate = True
autosummary_ignore_module_all = False
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "description"
# A method without a docstring of its own (an env's step) is not documented with gymnasium's.
autodoc_inherit_docstrings = False
autodoc_member_order = "bysource"
napoleon_google_docstring = True
napoleon_numpy_docstring = False

html_theme = "furo"
html_static_path = ["_static"]
# Without an icon of its own, every browser asks for /favicon.ico and logs a 404.
html_favicon = "_static/favicon.svg"
html_show_sourcelink = False
html_copy_source = False
