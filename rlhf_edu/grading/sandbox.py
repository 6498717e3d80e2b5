"""The autograder's worker: one submission, one process, limited and unprivileged.

The grader (``rlhf_edu.grading.autograder``) starts ``python -I -m rlhf_edu.grading.sandbox -``
(configuration as JSON on stdin) in a fresh session, with a temporary working directory, a minimal environment and a
pipe for reports. This process then

1. sets resource limits that student code cannot raise again: address space (memory), CPU
   seconds, size of any file it writes, number of processes/threads, open files, no core dumps;
2. when started as root, drops to an unprivileged user (``nobody`` by default) — it can then
   read the project but not write it, nor the tests copied into the sandbox, nor the results;
3. executes the notebook's code cells one by one (``execution.execute_cells``: per-cell
   time limit, failures recorded and stepped over), reporting each cell on the pipe;
4. runs pytest on the module's graded tests against the functions the notebook defined, in this
   same process (so student code never runs in the grader), reporting each test on the pipe.

The parent trusts nothing it reads from the pipe beyond its shape: points come from its own
collection of the tests, and a cell or test that kills or hangs this process is recorded by the
parent, which starts a new worker that skips it.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
from pathlib import Path
from typing import Any

MAX_MESSAGE_CHARS = 8000


def _count_tasks_of(uid: int) -> int:
    """Processes + threads currently owned by ``uid`` (what RLIMIT_NPROC counts)."""
    total = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        if int(fields.get("Uid", "-1").split()[0]) == uid:
            total += int(fields.get("Threads", "1").strip() or 1)
    return total


def apply_limits(config: dict[str, Any], uid: int) -> None:
    """Resource limits, soft = hard, so the code we run cannot raise them again."""

    def limit(which: int, value: int) -> None:
        soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, value))

    limit(resource.RLIMIT_AS, int(config["memory_mb"]) * 2**20)
    limit(resource.RLIMIT_CPU, int(config["cpu_seconds"]))
    limit(resource.RLIMIT_FSIZE, int(config["file_size_mb"]) * 2**20)
    limit(resource.RLIMIT_CORE, 0)
    limit(resource.RLIMIT_NOFILE, 256)
    if hasattr(resource, "RLIMIT_NPROC"):
        limit(resource.RLIMIT_NPROC, _count_tasks_of(uid) + int(config["extra_processes"]))
    # Writing past RLIMIT_FSIZE raises OSError (EFBIG) instead of killing us with SIGXFSZ.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


CAP_DAC_READ_SEARCH = 2
_PR_SET_KEEPCAPS = 8
_PR_CAPBSET_DROP = 24
_PR_SET_NO_NEW_PRIVS = 38
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


def _libc():
    import ctypes
    import ctypes.util

    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _set_capabilities(mask: int) -> None:
    """capset(2): effective = permitted = ``mask`` (capabilities 0-31), nothing inheritable."""
    import ctypes

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [
            ("effective", ctypes.c_uint32),
            ("permitted", ctypes.c_uint32),
            ("inheritable", ctypes.c_uint32),
        ]

    header = Header(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (Data * 2)(Data(mask, mask, 0), Data(0, 0, 0))
    if _libc().capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")


def drop_privileges(uid: int, gid: int, keep_read: bool = False) -> None:
    """Become ``uid``/``gid`` for good (no supplementary groups); check it cannot be undone.

    Args:
        keep_read: keep only the capability to *read* any file (CAP_DAC_READ_SEARCH), for
            machines whose Python lives where the sandbox user cannot read it (e.g. under
            /root). Writing stays forbidden; executed programs lose it.
    """
    libc = _libc()
    libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)  # no setuid binaries, ever
    if keep_read:
        for cap in range(64):
            if cap != CAP_DAC_READ_SEARCH:
                libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)
        libc.prctl(_PR_SET_KEEPCAPS, 1, 0, 0, 0)
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    if keep_read:
        _set_capabilities(1 << CAP_DAC_READ_SEARCH)
    if os.getuid() != uid or os.geteuid() != uid:
        raise RuntimeError("dropping privileges failed")
    try:
        os.setuid(0)
    except PermissionError:
        pass
    else:
        raise RuntimeError("dropped privileges could be regained")


class Channel:
    """JSON lines to the parent on a pipe file descriptor."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def send(self, message: dict[str, Any]) -> None:
        data = (json.dumps(message, default=str) + "\n").encode("utf-8", "replace")
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]


def _text(value: Any, limit: int = MAX_MESSAGE_CHARS) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit // 2] + "\n[...]\n" + text[-limit // 2 :]


class TestReporter:
    """pytest plugin streaming each graded test's start and outcome to the parent."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel

    def pytest_runtest_logstart(self, nodeid: str, location) -> None:
        self.channel.send({"event": "test_start", "nodeid": nodeid})

    def pytest_runtest_logreport(self, report) -> None:
        if report.when == "call" or report.failed or report.skipped:
            text = report.longreprtext if report.failed or report.skipped else ""
            sections = "".join(
                f"\n--- {name} ---\n{content}" for name, content in report.sections if content
            )
            self.channel.send(
                {
                    "event": "test_report",
                    "nodeid": report.nodeid,
                    "when": report.when,
                    "outcome": report.outcome,
                    "output": _text(text + sections),
                }
            )

    def pytest_runtest_logfinish(self, nodeid: str, location) -> None:
        self.channel.send({"event": "test_end", "nodeid": nodeid})


def run(config: dict[str, Any]) -> None:
    channel = Channel(int(config["event_fd"]))
    uid, gid = config.get("uid"), config.get("gid")
    target_uid = os.getuid() if uid is None else int(uid)
    apply_limits(config, target_uid)
    # Import what the tests need before student code can touch sys.modules or the filesystem.
    import numpy  # noqa: F401
    import pytest

    from rlhf_edu.grading import pytest_plugin
    from rlhf_edu.grading.execution import execute_cells, load_code_cells

    if uid is not None:
        drop_privileges(int(uid), int(gid), keep_read=bool(config.get("keep_read")))
    os.chdir(config["workdir"])
    channel.send({"event": "started", "uid": os.getuid()})
    cells = load_code_cells(config["notebook"])
    executed = execute_cells(
        cells,
        cell_timeout=float(config["cell_timeout"]),
        skip=[int(i) for i in config.get("skip_cells", [])],
        on_event=channel.send,
    )
    channel.send({"event": "cells_done"})
    pytest_plugin.set_submission(executed, None)
    args = [
        *config["test_files"],
        "-c",
        config["ini"],
        "--rootdir",
        config["rootdir"],
        "-p",
        "rlhf_edu.grading.pytest_plugin",
        "-p",
        "pytest_timeout",
        f"--timeout={float(config['test_timeout']):g}",
        "--timeout-method=signal",
        "--submission",
        config["notebook"],
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
    pytest.main(args, plugins=[TestReporter(channel)])
    channel.send({"event": "done"})


def probe() -> None:
    """``--probe``: can we drop privileges as configured and still import what grading needs?"""
    config = json.loads(sys.stdin.read())
    drop_privileges(int(config["uid"]), int(config["gid"]), keep_read=bool(config["keep_read"]))
    import numpy  # noqa: F401
    import pytest  # noqa: F401

    from rlhf_edu.grading import pytest_plugin  # noqa: F401

    print("ok")


def main() -> None:
    if sys.argv[1] == "--probe":
        probe()
        return
    if sys.argv[1] == "-":
        config = json.loads(sys.stdin.read())
        sys.stdin.close()
    else:
        with open(sys.argv[1], encoding="utf-8") as fh:
            config = json.load(fh)
    try:
        run(config)
    except BaseException as err:  # noqa: BLE001 - report anything, then leave at once
        try:
            Channel(int(config["event_fd"])).send(
                {"event": "worker_error", "error": _text(f"{type(err).__name__}: {err}")}
            )
        except Exception:
            pass
        os._exit(3)
    # Leave without running the notebook's atexit handlers or flushing its objects.
    os._exit(0)


if __name__ == "__main__":
    main()
