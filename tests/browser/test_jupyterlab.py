"""The student's tools in a real browser: JupyterLab runs notebook 00, and notebook 09's labeling
widget records a click.

A JupyterLab server starts on a free port with a token, in a temporary folder holding copies of
the notebooks, and headless Chromium (driven by Selenium) uses it as a student would: it opens
the notebook, runs all cells from the Run menu, reads the outputs, clicks a button. Screenshots go
to ``$RLHF_EDU_SCREENSHOTS`` (default: a temporary folder; fixtures in ``conftest.py``); their
paths are printed.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from helpers.browser import save_screenshot

ROOT = Path(__file__).resolve().parents[2]
TOUR = ROOT / "notebooks" / "00-tour.ipynb"
TOUR_SOLUTION = ROOT / "solutions" / "00-tour.ipynb"
PREFERENCES_NOTEBOOK = ROOT / "solutions" / "09-preferences-reward-models.ipynb"
GIF_NOTEBOOK = ROOT / "solutions" / "07-actor-critic-ppo.ipynb"  # stores a before/after GIF
KNOWN_OUTPUT_START = "episodes that reach the goal:"  # the random agent's success rate, cell 9

pytest.importorskip("selenium", reason="the browser tests need selenium (the dev extra)")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stored_output_line(notebook: Path, start: str) -> str:
    """The line of a stored output (in the executed solution) that starts with ``start``."""
    for cell in nbformat.read(notebook, as_version=4).cells:
        for output in cell.get("outputs", []):
            for line in output.get("text", "").splitlines():
                if line.startswith(start):
                    return line
    raise AssertionError(f"no stored output line starting with {start!r} in {notebook.name}")


def labeling_notebook(path: Path, preferences: Path) -> None:
    """Notebook 09's labeling cells (the labeler, then its widget), with the choices appended to
    ``preferences`` as ``PairLabeler(..., out=preferences)`` would."""
    cells = nbformat.read(PREFERENCES_NOTEBOOK, as_version=4).cells
    make = [c for c in cells if c.cell_type == "code" and "PairLabeler(" in c.source]
    show = [c for c in cells if c.cell_type == "code" and c.source.rstrip().endswith(".widget")]
    assert len(make) == 1 and len(show) == 1, (
        "notebook 09 should build one PairLabeler, show it once"
    )
    name = re.search(r"(\w+)\s*=\s*PairLabeler\(", make[0].source).group(1)
    notebook = nbformat.v4.new_notebook(
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)"}}
    )
    notebook.cells = [
        nbformat.v4.new_code_cell(make[0].source),
        nbformat.v4.new_code_cell(
            "from pathlib import Path\n\n"
            f"{name}.out = Path({str(preferences)!r})  # what PairLabeler(..., out=) sets"
        ),
        nbformat.v4.new_code_cell(show[0].source),
    ]
    nbformat.write(notebook, path)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server over a temporary copy of the notebooks: ``(base_url, token, root)``."""
    root = tmp_path_factory.mktemp("lab")
    (root / "notebooks").mkdir()
    shutil.copy(TOUR, root / "notebooks" / TOUR.name)
    (root / "solutions").mkdir()
    shutil.copy(GIF_NOTEBOOK, root / "solutions" / GIF_NOTEBOOK.name)
    labeling_notebook(root / "labeling.ipynb", root / "preferences.jsonl")
    # JupyterLab's settings: no "Jupyter news" prompt, no update check (no network here)
    settings = root.parent / f"{root.name}-settings"
    notification = settings / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True)
    (notification / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    port, token = free_port(), secrets.token_hex(16)
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)  # the kernel's inline backend, as a student has it
    env.update(
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(root.parent / f"{root.name}-workspaces"),
        JUPYTER_RUNTIME_DIR=str(root.parent / f"{root.name}-runtime"),
        OMP_NUM_THREADS="1",
        PYTHONHASHSEED="0",
    )
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        "--ServerApp.port_retries=0", "--LabApp.news_url=",
    ]  # fmt: skip
    if os.geteuid() == 0:  # CI containers run as root
        command.append("--allow-root")
    log = open(root.parent / f"{root.name}-server.log", "w")  # noqa: SIM115 (closed below)
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # generous: a loaded 2-core machine starts slowly
        while True:
            try:
                with urllib.request.urlopen(f"{base_url}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    text = Path(log.name).read_text()[-3000:]
                    raise RuntimeError(f"JupyterLab did not start:\n{text}") from None
                time.sleep(0.5)
        yield base_url, token, root
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def open_notebook(driver, lab, relative_path: str) -> None:
    """Open a notebook in JupyterLab and wait until its kernel is idle."""
    base_url, token, _ = lab
    # reset: a fresh workspace, without the tabs an earlier test left open
    driver.get(f"{base_url}/lab/tree/{relative_path}?reset&token={token}")
    wait = WebDriverWait(driver, 60)
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, ".jp-NotebookPanel .jp-Cell")))
    wait.until(
        lambda d: (
            "Idle" in d.find_element(By.CSS_SELECTOR, ".jp-StatusBar-Widget").text
            or any("Idle" in e.text for e in d.find_elements(By.CSS_SELECTOR, ".jp-StatusBar-Item"))
        )
    )


def run_all_cells(driver) -> None:
    """Run > Run All Cells, from the menu bar, as a student would."""
    wait = WebDriverWait(driver, 20)
    run_menu = wait.until(
        EC.element_to_be_clickable(
            (By.XPATH, "//li[contains(@class, 'lm-MenuBar-item')][normalize-space(.)='Run']")
        )
    )
    run_menu.click()
    wait.until(
        EC.element_to_be_clickable(
            (
                By.XPATH,
                "//li[contains(@class, 'lm-Menu-item')]"
                "[.//div[contains(@class, 'lm-Menu-itemLabel')][normalize-space(.)='Run All Cells']]",
            )
        )
    ).click()


def wait_until_idle(driver, timeout: float = 60) -> None:
    WebDriverWait(driver, timeout).until(
        lambda d: any(
            "| Idle" in e.text for e in d.find_elements(By.CSS_SELECTOR, ".jp-StatusBar-Item")
        )
    )


def scroll_into_view(driver, xpath: str) -> None:
    """Scroll the notebook until the element is inside the viewport. JupyterLab draws only the
    cells near the viewport and re-measures them as images load, so one scroll may fall short."""
    script = """
        const element = arguments[0];
        const box = element.getBoundingClientRect();
        const panel = element.closest('.jp-WindowedPanel-outer') || document.scrollingElement;
        const view = panel.getBoundingClientRect();
        if (box.top >= view.top && box.bottom <= view.bottom) return true;
        panel.scrollTop += box.bottom - view.bottom + 40;
        return false;
    """
    for _ in range(10):
        if driver.execute_script(script, driver.find_element(By.XPATH, xpath)):
            return
        time.sleep(0.5)
    raise AssertionError(f"could not scroll {xpath} into view")


def output_texts(driver) -> list[str]:
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output")]


def test_jupyterlab_runs_the_tour_and_shows_a_known_output(chromium_driver, lab, screenshot_dir):
    expected = stored_output_line(TOUR_SOLUTION, KNOWN_OUTPUT_START)
    open_notebook(chromium_driver, lab, f"notebooks/{TOUR.name}")
    save_screenshot(chromium_driver, screenshot_dir, "jupyterlab-00-tour-opened.png")
    run_all_cells(chromium_driver)
    WebDriverWait(chromium_driver, 90).until(
        lambda d: any(expected in text for text in output_texts(d))
    )
    # Run All goes on past the exercises a student has not done yet (tagged raises-exception):
    # the last cell runs too and shows its NotImplementedError
    WebDriverWait(chromium_driver, 30).until(
        lambda d: "NotImplementedError" in (output_texts(d) or [""])[-1]
    )
    wait_until_idle(chromium_driver)
    scroll_into_view(
        chromium_driver,
        f"//div[contains(@class, 'jp-OutputArea-output')][contains(., '{expected}')]",
    )
    save_screenshot(chromium_driver, screenshot_dir, "jupyterlab-00-tour-known-output.png")


def test_labeling_widget_click_appends_the_choice_to_the_preference_file(
    chromium_driver, lab, screenshot_dir
):
    from rlhf_edu.rlhf.labeling import candidate_pairs, choice_to_pair
    from rlhf_edu.rlhf.preferences import write_preferences

    _, _, root = lab
    preferences = root / "preferences.jsonl"
    open_notebook(chromium_driver, lab, "labeling.ipynb")
    run_all_cells(chromium_driver)
    first_is_better = WebDriverWait(chromium_driver, 60).until(
        EC.element_to_be_clickable((By.XPATH, "//button[normalize-space(.)='first is better']"))
    )
    widget_text = chromium_driver.find_element(By.CSS_SELECTOR, ".widget-html-content").text
    assert widget_text.startswith("[1/20]")
    save_screenshot(chromium_driver, screenshot_dir, "jupyterlab-09-labeler-before-click.png")
    assert not preferences.exists()

    first_is_better.click()
    WebDriverWait(chromium_driver, 20).until(
        lambda d: d.find_element(By.CSS_SELECTOR, ".widget-html-content").text.startswith("[2/20]")
    )
    save_screenshot(chromium_driver, screenshot_dir, "jupyterlab-09-labeler-after-click.png")

    # the notebook's cell: PairLabeler(candidate_pairs(20, seed=3, source="grammar"))
    expected_pair = choice_to_pair(candidate_pairs(20, seed=3, source="grammar")[0], "1")
    write_preferences([expected_pair], root / "expected.jsonl")
    expected = json.loads((root / "expected.jsonl").read_text())
    lines = preferences.read_text().splitlines()
    assert [json.loads(line) for line in lines] == [expected]
    prompt = expected_pair.prompt.strip()
    assert prompt.split()[0] in widget_text  # the pair shown was the one recorded


def test_a_stored_episode_gif_plays_in_jupyterlab(chromium_driver, lab, screenshot_dir):
    """The before/after GIF notebook 07 stores is shown as an animated image (no cell is run)."""
    open_notebook(chromium_driver, lab, f"solutions/{GIF_NOTEBOOK.name}")
    gif = (
        "//div[contains(@class, 'jp-OutputArea-output')]//img[starts-with(@src, 'data:image/gif')]"
    )
    panel = ".jp-NotebookPanel .jp-WindowedPanel-outer"
    WebDriverWait(chromium_driver, 60).until(  # the notebook draws the cells near the viewport
        lambda d: (
            d.find_elements(By.XPATH, gif)
            or d.execute_script(f"document.querySelector('{panel}').scrollTop += 2000")
            or False
        )
    )
    scroll_into_view(chromium_driver, gif)
    image = chromium_driver.find_element(By.XPATH, gif)
    WebDriverWait(chromium_driver, 20).until(
        lambda d: d.execute_script("return arguments[0].complete", image)
    )
    width = chromium_driver.execute_script("return arguments[0].naturalWidth", image)
    assert width == 2 * 160  # two panels of width=160, as the cell asks
    first = image.screenshot_as_png
    time.sleep(1.0)  # 12.5 frames per second: the picture (its step counter at least) moves on
    assert image.screenshot_as_png != first, "the GIF does not play: two looks 1 s apart agree"
    save_screenshot(chromium_driver, screenshot_dir, "jupyterlab-07-episode-gif.png")
