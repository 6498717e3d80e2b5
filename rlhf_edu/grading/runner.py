"""The trusted test runner: a module's graded tests against one sandboxed notebook.

The grader (``rlhf_edu.grading.autograder``) starts ``python -m rlhf_edu.grading.runner``
(configuration as JSON on stdin) once the worker has run the notebook's cells. It runs pytest on
a private copy of the graded tests; ``solution.fn(...)`` is a ``remote.RemoteFunction``, so the
student's code runs in the sandbox and only plain data comes back. The expected values, the
comparisons and the outcomes stay here, in a process the student's code cannot see or signal.

Each test's start and outcome go to the grader on a pipe (``protocol.RunnerEvent``). When a call
hangs or crashes the worker, that test fails, this runner reports ``worker_lost`` and stops; the
grader starts a fresh worker for the tests that remain.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import pytest

from rlhf_edu.grading.protocol import RunnerEvent

MAX_OUTPUT_CHARS = 8000


class Channel:
    """JSON lines to the grader on a pipe file descriptor."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def send(self, message: dict[str, Any]) -> None:
        data = (json.dumps(message, default=str) + "\n").encode("utf-8", "replace")
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]


def clip(text: str, limit: int = MAX_OUTPUT_CHARS) -> str:
    return text if len(text) <= limit else text[: limit // 2] + "\n[...]\n" + text[-limit // 2 :]


_HOST_PATHS: list[tuple[str, str]] = []


def without_host_paths(text: str) -> str:
    """Tracebacks without the grader's folders: ``tests/graded/...``, ``rlhf_edu/...``."""
    for path, shown in _HOST_PATHS:
        text = text.replace(path, shown)
    return text


def _remember_host_paths(rootdir: str) -> None:
    import rlhf_edu

    package = os.path.dirname(os.path.dirname(os.path.abspath(rlhf_edu.__file__)))
    _HOST_PATHS[:] = [
        (os.path.join(rootdir, ""), ""),
        (os.path.join(package, ""), ""),
        (os.path.join(sys.prefix, ""), "<python>/"),
        (os.path.join(sys.base_prefix, ""), "<python>/"),
    ]


class Reporter:
    """pytest plugin: each graded test's start and outcome to the grader; stop on a lost worker."""

    def __init__(self, channel: Channel, submission, go) -> None:
        self.channel = channel
        self.submission = submission
        self.go = go  # a copy of our stdin (pytest points fd 0 at /dev/null while it captures)

    def pytest_collection_finish(self, session) -> None:
        """Collected (imports done): wait until the worker has run the notebook's cells."""
        if self.go.readline().strip() != b"go":
            os._exit(0)

    def pytest_runtest_logstart(self, nodeid: str, location) -> None:
        self.channel.send({"event": RunnerEvent.TEST_START, "nodeid": nodeid})

    def pytest_runtest_logreport(self, report) -> None:
        if report.when == "call" or report.failed or report.skipped:
            text = report.longreprtext if report.failed or report.skipped else ""
            self.channel.send(
                {
                    "event": RunnerEvent.TEST_REPORT,
                    "nodeid": report.nodeid,
                    "when": report.when,
                    "outcome": report.outcome,
                    "output": clip(without_host_paths(text)),
                }
            )

    def pytest_runtest_logfinish(self, nodeid: str, location) -> None:
        self.channel.send({"event": RunnerEvent.TEST_END, "nodeid": nodeid})
        if self.submission.lost:
            self.channel.send({"event": RunnerEvent.WORKER_LOST, "error": self.submission.lost})

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        yield
        if self.submission.lost:
            item.session.shouldstop = self.submission.lost


def run(config: dict[str, Any], control) -> int:
    """Run the tests of ``config``; ``control`` is our unbuffered stdin (the "go" comes there)."""
    from rlhf_edu.grading import pytest_plugin
    from rlhf_edu.grading.remote import RemoteSubmission

    channel = Channel(int(config["event_fd"]))
    request_fd, answer_fd = (int(fd) for fd in config["call_fds"])
    submission = RemoteSubmission(request_fd, answer_fd, float(config["test_timeout"]))
    pytest_plugin.set_submission(submission, None)
    os.chdir(config["rootdir"])
    _remember_host_paths(config["rootdir"])
    args = [
        *config["test_files"],
        "-c",
        config["ini"],
        "--rootdir",
        config["rootdir"],
        "-p",
        "rlhf_edu.grading.pytest_plugin",
        "--submission",
        "sandboxed",
        "--graded-seed",
        str(int(config["seed"])),
        "-p",
        "no:cacheprovider",
        "-q",
        "--no-header",
        "--tb=short",
        "-o",
        "console_output_style=classic",
    ]
    for nodeid in config.get("deselect", []):
        args += ["--deselect", str(nodeid)]
    pytest.main(args, plugins=[Reporter(channel, submission, control)])
    channel.send({"event": RunnerEvent.DONE})
    return 0


def main() -> None:
    # Unbuffered, a byte at a time: a buffered read could swallow the later "go" line.
    control = os.fdopen(os.dup(0), "rb", buffering=0)
    config = json.loads(control.readline())
    sys.exit(run(config, control))


if __name__ == "__main__":
    main()
