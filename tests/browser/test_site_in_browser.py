"""The course website in headless Chromium, as a student opens it: the home page, a lesson with
typeset math, a notebook page with its figures, an API page and a search.

The site is built once per test run (``built_site``) and served on a free port of 127.0.0.1
(``served_site``). Every page must load without a console error and fetch nothing from another
host. Screenshots go to ``$RLHF_EDU_SCREENSHOTS`` (default: a temporary folder); each test
prints the path of the one it saves.
"""

from __future__ import annotations

from pathlib import Path

from helpers.browser import save_screenshot

try:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ModuleNotFoundError:  # the chromium_driver fixture skips, or fails where CI requires it
    By = WebDriverWait = None

ROOT = Path(__file__).resolve().parents[2]
LESSONS = sorted((ROOT / "course" / "lessons").glob("*.md"))
MATH_LESSON = "lessons/03-td-control.html"
FIGURE_NOTEBOOK = "notebooks/03-td-control.html"
API_PAGE = "generated/rlhf_edu.tabular.html"
#: A word of one module only: the search must list that module's lesson.
SEARCH_WORD, SEARCH_EXPECTED = "Ziebart", "lessons/14-inverse-rl.html"


def severe_console_messages(driver) -> list[str]:
    """The browser console's errors (a failed fetch, a script exception) since the last call."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def resources_from_other_hosts(driver, base_url: str) -> list[str]:
    """Every URL the page fetched (scripts, styles, fonts, images) that is not on the site."""
    urls = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    return [url for url in urls if not url.startswith(base_url)]


def open_page(driver, base_url: str, path: str) -> None:
    """Load ``path`` of the site and wait until the document and its fonts are ready."""
    driver.get(base_url + path)
    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )
    driver.execute_script("return document.fonts.ready")


def wait_for_mathjax(driver) -> int:
    """Wait until MathJax has typeset the page; return the number of typeset formulas."""
    WebDriverWait(driver, 60).until(
        lambda d: d.execute_script(
            "return !!(window.MathJax && MathJax.startup && MathJax.startup.promise)"
        )
    )
    typeset = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "MathJax.startup.promise.then(() => done(true), () => done(false));"
    )
    assert typeset, "MathJax's typesetting failed"
    return len(driver.find_elements(By.CSS_SELECTOR, "mjx-container"))


def assert_clean(driver, base_url: str) -> None:
    errors = severe_console_messages(driver)
    assert not errors, "console errors:\n" + "\n".join(errors)
    foreign = resources_from_other_hosts(driver, base_url)
    assert not foreign, "fetched from another host:\n" + "\n".join(foreign)


def test_home_page_links_every_lesson_and_has_a_search_box(
    chromium_driver, served_site, screenshot_dir
):
    open_page(chromium_driver, served_site, "index.html")
    assert "rlhf-edu" in chromium_driver.title
    search_box = chromium_driver.find_element(By.CSS_SELECTOR, "form[role=search] input[name=q]")
    assert search_box.is_displayed()
    links = {
        a.get_attribute("href").split("#")[0]
        for a in chromium_driver.find_elements(By.CSS_SELECTOR, ".sidebar-tree a")
    }
    for lesson in LESSONS:
        assert f"{served_site}lessons/{lesson.stem}.html" in links, f"no link to {lesson.name}"
    save_screenshot(chromium_driver, screenshot_dir, "site-home.png")
    assert_clean(chromium_driver, served_site)


def test_a_lesson_has_its_math_typeset_by_the_bundled_mathjax(
    chromium_driver, served_site, screenshot_dir
):
    open_page(chromium_driver, served_site, MATH_LESSON)
    assert wait_for_mathjax(chromium_driver) >= 10
    errors = chromium_driver.find_elements(By.CSS_SELECTOR, "mjx-merror")
    assert not errors, f"TeX errors: {[e.get_attribute('data-mjx-error') for e in errors]}"
    text = chromium_driver.find_element(By.TAG_NAME, "article").text
    assert "$$" not in text and "\\alpha" not in text, "raw TeX left on the page"
    display = chromium_driver.find_element(By.CSS_SELECTOR, "mjx-container[display=true]")
    chromium_driver.execute_script(
        "arguments[0].scrollIntoView({block: 'center', behavior: 'instant'})", display
    )
    save_screenshot(chromium_driver, screenshot_dir, "site-lesson-03-math.png")
    assert_clean(chromium_driver, served_site)


def test_every_lesson_typesets_without_a_tex_error(chromium_driver, served_site):
    for lesson in LESSONS:
        open_page(chromium_driver, served_site, f"lessons/{lesson.stem}.html")
        if "$" in lesson.read_text(encoding="utf-8"):
            assert wait_for_mathjax(chromium_driver) > 0, f"{lesson.name}: no typeset math"
        errors = chromium_driver.find_elements(By.CSS_SELECTOR, "mjx-merror")
        assert not errors, f"{lesson.name}: {[e.get_attribute('data-mjx-error') for e in errors]}"
        assert_clean(chromium_driver, served_site)


def test_a_notebook_page_shows_its_figures(chromium_driver, served_site, screenshot_dir):
    open_page(chromium_driver, served_site, FIGURE_NOTEBOOK)
    images = chromium_driver.find_elements(By.CSS_SELECTOR, "article img")
    assert len(images) >= 3
    for image in images:
        loaded = chromium_driver.execute_script(
            "return arguments[0].complete && arguments[0].naturalWidth", image
        )
        assert loaded and loaded > 100, f"figure not loaded: {image.get_attribute('src')}"
    download = chromium_driver.find_element(By.PARTIAL_LINK_TEXT, "03-td-control.ipynb")
    assert download.get_attribute("href").endswith("/03-td-control.ipynb")
    chromium_driver.execute_script(
        "arguments[0].scrollIntoView({block: 'center', behavior: 'instant'})", images[0]
    )
    save_screenshot(chromium_driver, screenshot_dir, "site-notebook-03-figure.png")
    assert_clean(chromium_driver, served_site)


def test_an_api_page_documents_a_function_from_its_docstring(
    chromium_driver, served_site, screenshot_dir
):
    open_page(chromium_driver, served_site, API_PAGE + "#rlhf_edu.tabular.q_learning_update")
    entry = chromium_driver.find_element(By.ID, "rlhf_edu.tabular.q_learning_update")
    assert entry.is_displayed()
    assert "q_learning_update" in entry.text
    description = entry.find_element(By.XPATH, "following-sibling::dd").text
    assert "Q-learning" in description or "Q[s" in description, description[:200]
    save_screenshot(chromium_driver, screenshot_dir, "site-api-tabular.png")
    assert_clean(chromium_driver, served_site)


def test_search_finds_the_lesson_that_names_a_word(chromium_driver, served_site, screenshot_dir):
    open_page(chromium_driver, served_site, "index.html")
    box = chromium_driver.find_element(By.CSS_SELECTOR, "form[role=search] input[name=q]")
    box.send_keys(SEARCH_WORD)
    box.submit()
    WebDriverWait(chromium_driver, 30).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "ul.search li a")
    )
    WebDriverWait(chromium_driver, 30).until(
        lambda d: (
            "Search finished" in d.find_element(By.ID, "search-results").text
            or d.find_elements(By.CSS_SELECTOR, "#search-results > p")
        )
    )
    results = [
        a.get_attribute("href").split("?")[0].split("#")[0]
        for a in chromium_driver.find_elements(By.CSS_SELECTOR, "ul.search li a")
    ]
    assert f"{served_site}{SEARCH_EXPECTED}" in results, results
    save_screenshot(chromium_driver, screenshot_dir, "site-search-ziebart.png")
    assert_clean(chromium_driver, served_site)
