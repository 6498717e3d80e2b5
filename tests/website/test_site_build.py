"""The course website: built with warnings as errors, every internal link resolves, it loads
nothing from another host, and it holds every lesson, notebook (with figures), the API and the
instructor guide.

The build itself (``rlhf-edu site build``, Sphinx ``-W --keep-going``) runs once per test run in
the ``built_site`` fixture, which fails on any Sphinx warning. Sphinx's own ``linkcheck`` needs
the network, so the link check here parses every built page instead.
"""

from __future__ import annotations

import html.parser
import json
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest

from rlhf_edu.app.site import notebook_page, stage_sources

ROOT = Path(__file__).resolve().parents[2]
LESSONS = sorted((ROOT / "course" / "lessons").glob("*.md"))
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))

#: Elements whose URL attribute makes the browser fetch something (not just a link to follow).
FETCHED = {
    ("script", "src"),
    ("link", "href"),
    ("img", "src"),
    ("iframe", "src"),
    ("source", "src"),
    ("video", "src"),
    ("audio", "src"),
    ("embed", "src"),
    ("object", "data"),
}
EXTERNAL = re.compile(r"^(https?:)?//", re.I)
CSS_URL = re.compile(r"url\(\s*['\"]?([^'\")]+)['\"]?\s*\)")
CSS_IMPORT = re.compile(r"@import\s+['\"]([^'\"]+)['\"]")


class _Page(html.parser.HTMLParser):
    """The URLs a page refers to, with the element that refers to each, and its element ids."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[tuple[str, str, str]] = []  # (tag, attribute, url)
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name == "id":
                self.ids.add(value)
            if name in ("href", "src", "data") or (tag == "img" and name == "srcset"):
                self.urls.append((tag, name, value))
            if name == "style":
                self.urls.extend((tag, "style", url) for url in CSS_URL.findall(value))


def parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def pages(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


def test_the_site_has_an_index_and_a_page_per_lesson_notebook_and_public_package(built_site):
    assert (built_site / "index.html").is_file()
    assert (built_site / "syllabus.html").is_file()
    for lesson in LESSONS:
        assert (built_site / "lessons" / f"{lesson.stem}.html").is_file(), lesson.name
    for solution in SOLUTIONS:
        assert (built_site / "notebooks" / f"{solution.stem}.html").is_file(), solution.name
    for package in ("utils", "envs", "core", "tabular", "neural", "rlhf", "viz", "grading"):
        assert (built_site / "generated" / f"rlhf_edu.{package}.html").is_file(), package
    assert (built_site / "instructors" / "INSTRUCTORS.html").is_file()
    assert (built_site / "instructors" / "AUTHORING.html").is_file()
    assert (built_site / "searchindex.js").is_file()


def test_every_internal_link_and_resource_resolves_to_a_file_and_anchor(built_site):
    """Every relative href/src of every page names a file of the site, and its #anchor exists."""
    parsed = {path.resolve(): parse(path) for path in pages(built_site)}
    broken = []
    checked = 0
    for path, page in parsed.items():
        for tag, attribute, url in page.urls:
            for candidate in url.split(",") if attribute == "srcset" else [url]:
                candidate = candidate.strip().split(" ")[0]
                parts = urlsplit(candidate)
                if parts.scheme or candidate.startswith("//") or not candidate:
                    continue  # external (checked below), mailto:, data:, javascript:
                target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
                if parts.path.endswith("/") or target.is_dir():
                    target = target / "index.html"
                checked += 1
                where = (
                    f"{path.relative_to(built_site.resolve())}: <{tag} {attribute}={candidate!r}>"
                )
                if built_site.resolve() not in target.parents and target != built_site:
                    broken.append(f"{where} leaves the site")
                elif not target.is_file():
                    broken.append(f"{where}: no file {target.relative_to(built_site.resolve())}")
                elif parts.fragment and target.suffix == ".html":
                    anchors = parsed[target].ids if target in parsed else parse(target).ids
                    if unquote(parts.fragment) not in anchors:
                        broken.append(f"{where}: no id {parts.fragment!r} in {target.name}")
    assert checked > 1000, f"only {checked} internal links found: is the site empty?"
    assert not broken, f"{len(broken)} broken internal links:\n" + "\n".join(broken[:40])


def test_no_page_loads_a_script_stylesheet_font_or_image_from_another_host(built_site):
    """Offline: external URLs are only ever links to follow (<a href>), never fetched."""
    fetched = []
    for path in pages(built_site):
        for tag, attribute, url in parse(path).urls:
            if EXTERNAL.match(url) and ((tag, attribute) in FETCHED or attribute == "style"):
                fetched.append(f"{path.relative_to(built_site)}: <{tag} {attribute}={url!r}>")
    for path in sorted(built_site.rglob("*.css")):
        text = path.read_text(encoding="utf-8", errors="replace")
        urls = CSS_URL.findall(text) + CSS_IMPORT.findall(text)
        where = path.relative_to(built_site)
        fetched += [f"{where}: {url}" for url in urls if EXTERNAL.match(url.strip())]
    assert not fetched, "fetched from another host:\n" + "\n".join(fetched[:40])


def test_math_is_served_by_the_site_itself(built_site):
    lesson = (built_site / "lessons" / "03-td-control.html").read_text(encoding="utf-8")
    scripts = re.findall(r'<script[^>]* src="([^"]*mathjax[^"]*)"', lesson, re.I)
    assert scripts, "no MathJax script on a lesson with equations"
    assert all(not EXTERNAL.match(src) for src in scripts), scripts
    assert (built_site / "lessons" / scripts[0].split("?")[0]).resolve().is_file()
    assert 'class="math' in lesson
    fonts = list((built_site / "_static" / "mathjax" / "output" / "chtml" / "fonts").rglob("*"))
    assert any(f.suffix == ".woff" for f in fonts), "MathJax's fonts are not in the site"


def test_every_lesson_page_has_its_equations_as_math(built_site):
    for lesson in LESSONS:
        text = lesson.read_text(encoding="utf-8")
        page = (built_site / "lessons" / f"{lesson.stem}.html").read_text(encoding="utf-8")
        if "$" in text:
            assert 'class="math' in page, f"{lesson.name}: equations not rendered as math"
        body = re.sub(r"<(pre|code)\b.*?</\1>", "", page, flags=re.S)
        assert "$$" not in body, f"{lesson.name}: a raw $$ is left on the page"


def test_notebook_pages_show_figures_no_solution_code_and_link_the_student_notebook(built_site):
    for solution in SOLUTIONS:
        page_path = built_site / "notebooks" / f"{solution.stem}.html"
        page = page_path.read_text(encoding="utf-8")
        stored_images = sum(
            "image/png" in output.get("data", {})
            for cell in nbformat.read(solution, as_version=4).cells
            for output in cell.get("outputs", [])
        )
        images = re.findall(r'<img [^>]*src="([^"]+)"', page)
        assert len(images) >= stored_images, f"{solution.name}: {len(images)} of {stored_images}"
        downloads = re.findall(rf'href="([^"]*_downloads/[^"]*/{re.escape(solution.name)})"', page)
        assert downloads, f"{solution.name}: no link to the student notebook"
        student = json.loads((page_path.parent / downloads[0]).read_text())
        assert student == json.loads((ROOT / "notebooks" / solution.name).read_text())
        assert "BEGIN SOLUTION" not in page, f"{solution.name}: solution markers on the page"


def test_the_api_reference_documents_the_public_functions_from_their_docstrings(built_site):
    page = (built_site / "generated" / "rlhf_edu.tabular.html").read_text(encoding="utf-8")
    assert 'id="rlhf_edu.tabular.q_learning_update"' in page
    assert 'id="rlhf_edu.tabular.value_iteration"' in page
    from rlhf_edu.tabular import q_learning_update

    first_line = q_learning_update.__doc__.strip().splitlines()[0]
    words = re.findall(r"[A-Za-z]{4,}", first_line)[:4]
    text = re.sub(r"<[^>]+>", "", page)
    assert all(word in text for word in words), (words, "docstring text missing from the page")


# The pieces, without a build ------------------------------------------------------------------


def _solution_notebook() -> nbformat.NotebookNode:
    exercise = nbformat.v4.new_code_cell(
        "def double(x):\n"
        '    """Twice x."""\n'
        "    ### BEGIN SOLUTION\n"
        "    return 2 * x\n"
        "    ### END SOLUTION\n",
        metadata={"rlhf_edu": {"exercise": "0.9", "title": "Double", "points": 1}},
    )
    figure = nbformat.v4.new_code_cell("print(double(21))")
    figure.outputs = [nbformat.v4.new_output("stream", name="stdout", text="42\n")]
    figure.execution_count = 2
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell("# 99 · A title\n\nText."), exercise, figure]
    return notebook


def test_a_notebook_page_is_the_student_code_with_the_solution_outputs():
    page = notebook_page(_solution_notebook(), "99-x.ipynb")
    sources = [cell.source for cell in page.cells]
    assert sources[0].startswith("# 99 · A title")
    assert "{download}`99-x.ipynb <../student/99-x.ipynb>`" in sources[1]
    assert "return 2 * x" not in sources[2]
    assert 'raise NotImplementedError("Exercise 0.9: Double")' in sources[2]
    assert page.cells[3].outputs[0]["text"] == "42\n"
    assert page.cells[3].execution_count == 2
    nbformat.validate(page)


def test_staging_outside_the_course_repository_names_the_root_argument(tmp_path):
    with pytest.raises(FileNotFoundError, match="--root"):
        stage_sources(tmp_path, tmp_path / "stage")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rlhf_edu.app.cli", *args], capture_output=True, text=True, cwd=ROOT
    )


def test_site_build_refuses_to_overwrite_a_folder_that_is_not_a_site(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    result = _cli("site", "build", "--out", str(tmp_path))
    assert result.returncode == 1
    assert "--out" in result.stderr and "not empty" in result.stderr
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_site_without_an_action_is_a_usage_error():
    result = _cli("site")
    assert result.returncode == 2
    assert "ACTION" in result.stderr
