"""Fixtures for the course website: one build per test run, and a local HTTP server for it.

``built_site`` runs ``rlhf-edu site build`` (as a user would, in a subprocess) once per test
run: under pytest-xdist every worker asks for it, the first builds it into the run's shared
temporary folder while holding a lock, the others wait and reuse it. ``served_site`` serves
that folder with ``http.server`` on a free port of 127.0.0.1 (a browser treats ``file://``
pages differently: no search index by XHR in some browsers). Import them into a conftest::

    from helpers.site_build import built_site, served_site  # noqa: F401
"""

from __future__ import annotations

import fcntl
import functools
import http.server
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The course website, built from this checkout (``DIR`` with ``DIR/index.html``).

    ``$RLHF_EDU_SITE_DIR`` names a site built before (``rlhf-edu site build --out DIR``) to test
    instead, while working on the tests; CI leaves it unset, so it checks a fresh build.
    """
    if prebuilt := os.environ.get("RLHF_EDU_SITE_DIR"):
        assert (Path(prebuilt) / "index.html").is_file(), f"RLHF_EDU_SITE_DIR={prebuilt}: no index"
        return Path(prebuilt)
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the run's folder, shared by all workers
    site = shared / "course-site"
    with open(shared / "course-site.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (site / "index.html").is_file():
            start = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "rlhf_edu.app.cli", "site", "build", "--out", str(site)],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert done.returncode == 0, (
                f"rlhf-edu site build failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
            )
            print(f"\nsite built in {time.perf_counter() - start:.1f} s: {site}")
    return site


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        pass


@pytest.fixture(scope="session")
def served_site(built_site: Path) -> Iterator[str]:
    """The built site over HTTP: its base URL, ``http://127.0.0.1:PORT/`` (port 0: a free one)."""
    handler = functools.partial(_QuietHandler, directory=str(built_site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
