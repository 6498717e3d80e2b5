"""One attempt at a submission: its sandboxed worker, the trusted test runner, and the deadlines.

``run_attempt`` starts the worker (``rlhf_edu.grading.sandbox``, sealed or weak, see
``isolation``) and, already in parallel, the test runner (``rlhf_edu.grading.runner``), which
collects the graded tests and then waits. When the worker reports that the cells are done, the
runner is told to go: its calls reach the worker through two pipes that only these two hold.
The attempt ends when the runner is done, the worker dies, a call hangs, or a deadline passes
(per cell, per test, per notebook); ``Attempt.stop`` says which, as a field.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from rlhf_edu.grading import isolation
from rlhf_edu.grading.protocol import MAX_EVENT_BYTES, MAX_EVENTS, Event, RunnerEvent, parse_event
from rlhf_edu.grading.results import CellReport, clip
from rlhf_edu.grading.workspace import Workspace, worker_env

GRACE_SECONDS = 5.0
STARTUP_SECONDS = 90.0
OUTPUT_KEEP = 64 * 1024
MEMORY_CHECK_SECONDS = 0.25
MAX_CELL_ERROR = 4000


class Stop:
    """Why the grader stopped a worker (``Attempt.stop``)."""

    CELL_TIME = "cell_time"
    TEST_TIME = "test_time"
    DEADLINE = "deadline"
    UNRESPONSIVE = "unresponsive"
    MEMORY = "memory"


@dataclass
class Attempt:
    """What one worker and its runner did before they finished, died or were stopped."""

    cell_results: dict[int, CellReport] = field(default_factory=dict)
    test_reports: dict[str, list[dict]] = field(default_factory=dict)
    finished_tests: set[str] = field(default_factory=set)
    current: tuple[str, Any] | None = None  # ("cell", index) or ("test", nodeid)
    started: bool = False
    cells_done: bool = False
    done: bool = False  # the runner ran every test it was given
    worker_lost: str = ""  # a call hung or crashed the worker (from the runner)
    worker_error: str = ""
    stop: str = ""  # a Stop, when the grader stopped the worker
    returncode: int | None = None
    output: bytes = b""
    output_dropped: int = 0
    runner_failed: bool = False
    runner_error: str = ""


def _kill(proc: subprocess.Popen | None) -> int | None:
    if proc is None:
        return None
    for kill in (lambda: os.killpg(proc.pid, 9), proc.kill):
        try:
            kill()
        except (ProcessLookupError, PermissionError):
            pass
    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        return None


def run_attempt(
    ws: Workspace,
    worker_config: dict[str, Any],
    runner_config: dict[str, Any],
    limits: dict[str, float],
    sealed_uid: int | None | bool,
) -> Attempt:
    """Run one worker and its runner until done, dead or past a deadline.

    Args:
        limits: ``cell``, ``test`` (seconds each), ``deadline`` (a ``time.monotonic`` time),
            ``memory_mb`` (the worker's whole process tree).
        sealed_uid: False for the weak sandbox; else the sealed worker's user id (None: ours).
    """
    attempt = Attempt()
    events_r, events_w = os.pipe()
    runner_r, runner_w = os.pipe()
    request_r, request_w = os.pipe()
    answer_r, answer_w = os.pipe()
    config = {**worker_config, "event_fd": events_w, "call_fds": [request_r, answer_w]}
    inner = [sys.executable, "-I", "-m", "rlhf_edu.grading.sandbox", "-"]
    token = os.urandom(16).hex()
    if sealed_uid is False:
        command, cwd, env = inner, ws.work, worker_env(str(ws.work))
        env[isolation.SANDBOX_TOKEN_ENV] = token
    else:
        command = isolation.bwrap_command(inner, ws.notebook, sealed_uid)
        cwd, env = "/", worker_env(isolation.INSIDE_WORKDIR)
    worker = runner = None
    selector = selectors.DefaultSelector()
    try:
        worker = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=(events_w, request_r, answer_w),
            start_new_session=True,
        )
        runner = subprocess.Popen(
            [sys.executable, "-m", "rlhf_edu.grading.runner"],
            cwd=ws.tests,
            env={
                **os.environ,
                "PYTHONDONTWRITEBYTECODE": "1",
                "PYTEST_ADDOPTS": "",
                "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
                "RLHF_EDU_NO_PROGRESS": "1",
            },
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            pass_fds=(runner_w, request_w, answer_r),
            start_new_session=True,
        )
        for fd in (events_w, runner_w, request_r, request_w, answer_r, answer_w):
            os.close(fd)
        _send_config(worker, config)
        _send_config(
            runner,
            {**runner_config, "event_fd": runner_w, "call_fds": [request_w, answer_r]},
            keep_open=True,
        )
        selector.register(events_r, selectors.EVENT_READ, "events")
        selector.register(runner_r, selectors.EVENT_READ, "runner")
        selector.register(worker.stdout.fileno(), selectors.EVENT_READ, "output")
        _loop(attempt, selector, worker, runner, limits)
        if not attempt.stop and not attempt.cells_done:
            try:  # the worker is leaving by itself: let it tell us how
                attempt.returncode = worker.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass
    finally:
        returncode = _kill(worker)
        if attempt.returncode is None:
            attempt.returncode = returncode
        if sealed_uid is not False and attempt.returncode and attempt.returncode > 128:
            attempt.returncode = 128 - attempt.returncode  # bwrap's 128 + signal: -signal
        _kill(runner)
        if sealed_uid is False:
            isolation.sweep_escaped_processes(token, ws.root)
        if runner is not None and runner.stderr is not None:
            attempt.runner_error = runner.stderr.read()[-4000:].decode("utf-8", "replace")
        selector.close()
        for fd in (events_r, runner_r):
            os.close(fd)
        for proc in (worker, runner):
            for stream in (proc.stdin, proc.stdout, proc.stderr) if proc else ():
                if stream is not None:
                    try:
                        stream.close()
                    except OSError:
                        pass
    return attempt


def _send_config(proc: subprocess.Popen, config: dict, keep_open: bool = False) -> None:
    try:
        proc.stdin.write(json.dumps(config).encode() + b"\n")
        proc.stdin.flush()
        if not keep_open:
            proc.stdin.close()
    except OSError:
        pass


def _loop(attempt: Attempt, selector, worker, runner, limits: dict[str, float]) -> None:
    buffers = {"events": b"", "runner": b""}
    phase_started, phase_limit = time.monotonic(), STARTUP_SECONDS
    n_events, next_memory_check = 0, 0.0
    open_streams = {"events", "runner", "output"}
    while True:
        if attempt.done or attempt.worker_lost:
            return
        if "runner" not in open_streams:
            attempt.runner_failed = True  # the grader's own fault: reported, never the student's
            return
        if "events" not in open_streams and not attempt.cells_done:
            return  # the worker died running the cells
        now = time.monotonic()
        limit_at = min(phase_started + phase_limit, limits["deadline"])
        if now >= limit_at:
            if now >= limits["deadline"]:
                attempt.stop = Stop.DEADLINE
            elif attempt.current and attempt.current[0] == "cell":
                attempt.stop = Stop.CELL_TIME
            elif attempt.current and attempt.current[0] == "test":
                attempt.stop = Stop.TEST_TIME
            else:
                attempt.stop = Stop.UNRESPONSIVE
            return
        if now >= next_memory_check:
            next_memory_check = now + MEMORY_CHECK_SECONDS
            if isolation.tree_memory_mb(worker.pid) > limits["memory_mb"]:
                attempt.stop = Stop.MEMORY
                return
        for key, _ in selector.select(timeout=min(MEMORY_CHECK_SECONDS, max(0.01, limit_at - now))):
            chunk = os.read(key.fd, 65536)
            if not chunk:
                selector.unregister(key.fd)
                open_streams.discard(key.data)
                continue
            if key.data == "output":
                room = max(OUTPUT_KEEP - len(attempt.output), 0)
                attempt.output += chunk[:room]
                attempt.output_dropped += len(chunk) - len(chunk[:room])
                continue
            buffers[key.data] += chunk
            *lines, buffers[key.data] = buffers[key.data].split(b"\n")
            if len(buffers[key.data]) > MAX_EVENT_BYTES:
                buffers[key.data] = b""  # an over-long line: dropped, as garbage
            for line in lines:
                if key.data == "events":
                    n_events += 1
                    if n_events > MAX_EVENTS:
                        break
                    event = parse_event(line)
                    if event is None:
                        continue
                    restart = _on_worker_event(attempt, event, runner, limits)
                else:
                    restart = _on_runner_event(attempt, line, limits)
                if restart is not None:
                    phase_started, phase_limit = time.monotonic(), restart


def _on_worker_event(attempt: Attempt, event: dict, runner, limits) -> float | None:
    """Record a worker's event; the new phase's time limit, if it starts one."""
    kind = event["event"]
    if attempt.cells_done:
        return None  # after the cells, the worker has nothing more to report
    if kind == Event.STARTED:
        attempt.started = True
        return STARTUP_SECONDS
    if kind == Event.CELL_START:
        attempt.current = ("cell", event["index"])
        return limits["cell"] + GRACE_SECONDS
    if kind == Event.CELL_END:
        if attempt.current == ("cell", event["index"]):
            attempt.cell_results[event["index"]] = CellReport(
                event["index"], event["status"], clip(event["error"], MAX_CELL_ERROR)
            )
            attempt.current = None
        return STARTUP_SECONDS
    if kind == Event.CELLS_DONE:
        attempt.cells_done, attempt.current = True, None
        try:
            runner.stdin.write(b"go\n")
            runner.stdin.close()
        except OSError:
            pass
        return STARTUP_SECONDS
    if kind == Event.WORKER_ERROR:
        attempt.worker_error = event["error"][:2000]
    return None


def _on_runner_event(attempt: Attempt, line: bytes, limits) -> float | None:
    try:
        event = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    kind = event.get("event")
    if kind == RunnerEvent.TEST_START:
        attempt.current = ("test", event["nodeid"])
        return limits["test"] + GRACE_SECONDS
    if kind == RunnerEvent.TEST_REPORT:
        attempt.test_reports.setdefault(event["nodeid"], []).append(event)
    elif kind == RunnerEvent.TEST_END:
        attempt.finished_tests.add(event["nodeid"])
        attempt.current = None
        return STARTUP_SECONDS
    elif kind == RunnerEvent.WORKER_LOST:
        attempt.worker_lost = str(event.get("error", ""))
    elif kind == RunnerEvent.DONE:
        attempt.done = True
    return None
