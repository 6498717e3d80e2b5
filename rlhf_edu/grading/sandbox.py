"""The autograder's worker: one submission's notebook, run as a function server.

The grader starts ``python -I -m rlhf_edu.grading.sandbox -`` (configuration as JSON on stdin)
inside the isolation of ``rlhf_edu.grading.isolation`` (a bubblewrap seal, or the weak rlimit
sandbox). This process then

1. sets resource limits that student code cannot raise again: address space (memory), CPU
   seconds, size of any file it writes, number of processes/threads, open files, no core dumps;
2. in the weak sandbox, when started as root, drops to an unprivileged user (in the seal,
   ``setpriv`` already did, before Python started);
3. executes the notebook's code cells one by one (``execution.execute_cells``: per-cell time
   limit, failures recorded and stepped over), reporting each cell on the event pipe
   (``protocol.Event``); what the cells print goes to its stdout, which the grader keeps;
4. serves the functions the notebook defined: the grader's trusted test runner sends calls in,
   this process runs them (each with a time limit) and answers with plain data only
   (``protocol.encode``). The graded tests, their expected values and the scores never enter
   this process.
"""

from __future__ import annotations

import json
import os
import pickle
import sys
from typing import Any

from rlhf_edu.grading.limits import apply_limits, drop_privileges

MAX_MESSAGE_CHARS = 8000


class Channel:
    """JSON lines to the parent on a pipe file descriptor."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def send(self, message: dict[str, Any]) -> None:
        from rlhf_edu.grading.protocol import write_all

        write_all(self.fd, (json.dumps(message, default=str) + "\n").encode("utf-8", "replace"))


def _text(value: Any, limit: int = MAX_MESSAGE_CHARS) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit // 2] + "\n[...]\n" + text[-limit // 2 :]


def snapshot(arg: Any) -> dict | None:
    """An argument as plain data (a random generator as its state), None if it is not."""
    from rlhf_edu.grading.protocol import NotPlainData, encode

    try:
        state = _generator_state(arg)
        return {"v": encode(arg)} if state is None else {"rng": encode(state)}
    except NotPlainData:
        return None


def _encode_result(value: Any, args: tuple, kwargs: dict, before: list) -> dict[str, Any]:
    """The answer to a call: the return value and the arguments the function changed (``before``:
    their snapshots before the call); raises NotPlainData for the return value."""
    from rlhf_edu.grading.protocol import encode

    def changed(arg: Any, old: dict | None) -> dict | None:
        new = snapshot(arg)
        return new if new != old else None

    n = len(args)
    return {
        "status": "ok",
        "value": encode(value),
        "args": [changed(a, b) for a, b in zip(args, before[:n])],
        "kwargs": {str(k): changed(v, b) for (k, v), b in zip(kwargs.items(), before[n:])},
        "grads": _gradients(value, args),
    }


def _generator_state(arg: Any) -> Any:
    """The state of a random generator argument (the test's generator advances as if the
    function had run in the test), or None for anything else."""
    kind = type(arg)
    if kind.__module__.startswith("numpy.random") and kind.__name__ == "Generator":
        return arg.bit_generator.state
    if kind.__module__.startswith("torch") and kind.__name__ == "Generator":
        return arg.get_state()
    return None


MAX_JACOBIAN = 4_000_000


def _gradients(value: Any, args: tuple) -> dict[str, Any]:
    """``{arg index: d value / d arg}`` (a Jacobian, flattened) for the tensor arguments that
    require grad, so the graded test can call ``.backward()`` on the value in the grader."""
    torch = sys.modules.get("torch")
    if torch is None or not isinstance(value, torch.Tensor) or not value.requires_grad:
        return {}
    from rlhf_edu.grading.protocol import encode

    wanted = [
        i
        for i, a in enumerate(args)
        if isinstance(a, torch.Tensor)
        and a.requires_grad
        and a.numel() * value.numel() <= MAX_JACOBIAN
    ]
    if not wanted:
        return {}
    flat = value.reshape(-1)
    rows: dict[int, list] = {i: [] for i in wanted}
    for k in range(flat.numel()):
        grads = torch.autograd.grad(
            flat[k], [args[i] for i in wanted], retain_graph=True, allow_unused=True
        )
        for i, g in zip(wanted, grads):
            rows[i].append(torch.zeros(args[i].numel()) if g is None else g.reshape(-1).detach())
    return {str(i): encode(torch.stack(r).to(torch.float64).numpy()) for i, r in rows.items()}


def serve(namespace: dict[str, Any], request_fd: int, answer_fd: int, call_timeout: float) -> None:
    """Answer calls of the notebook's functions until the grader closes the pipe."""
    import contextlib
    import io

    import cloudpickle  # noqa: F401 - registers what pickle.loads needs for closures

    from rlhf_edu.grading.execution import CellTimeout, format_error, time_limit
    from rlhf_edu.grading.protocol import NotPlainData, read_frame, write_frame

    discard = io.StringIO()
    while True:
        try:
            request = pickle.loads(read_frame(request_fd))
        except EOFError:
            return
        name, args, kwargs = request["name"], tuple(request["args"]), dict(request["kwargs"])
        function = namespace.get(name)
        if not callable(function):
            answer: dict[str, Any] = {"status": "missing"}
        else:
            try:
                before = [snapshot(a) for a in (*args, *kwargs.values())]
                with contextlib.redirect_stdout(discard), contextlib.redirect_stderr(discard):
                    with time_limit(call_timeout):
                        value = function(*args, **kwargs)
                answer = _encode_result(value, args, kwargs, before)
            except NotPlainData as err:
                answer = {"status": "bad_value", "error": f"it returned {err}"}
            except CellTimeout:
                answer = {
                    "status": "timeout",
                    "error": f"the call ran longer than {call_timeout:g} s",
                }
            except BaseException as err:  # noqa: BLE001 - the student's exception, reported
                answer = {
                    "status": "raised",
                    "error_type": type(err).__name__,
                    "error": _text(format_error(err)),
                }
            discard.seek(0)
            discard.truncate()
        write_frame(answer_fd, json.dumps(answer).encode())


def run(config: dict[str, Any]) -> None:
    channel = Channel(int(config["event_fd"]))
    uid, gid = config.get("uid"), config.get("gid")
    target_uid = os.getuid() if uid is None else int(uid)
    apply_limits(config, target_uid)
    # Import what serving needs before student code can touch sys.modules or the filesystem.
    import cloudpickle  # noqa: F401
    import numpy  # noqa: F401

    from rlhf_edu.grading import protocol  # noqa: F401
    from rlhf_edu.grading.execution import execute_cells, load_code_cells

    if uid is not None:
        drop_privileges(int(uid), int(gid), keep_read=bool(config.get("keep_read")))
    os.chdir(config["workdir"])
    channel.send({"event": "started"})
    cells = load_code_cells(config["notebook"])
    executed = execute_cells(
        cells,
        cell_timeout=float(config["cell_timeout"]),
        skip=[int(i) for i in config.get("skip_cells", [])],
        on_event=channel.send,
        capture=False,
    )
    sys.stdout.flush()
    channel.send({"event": "cells_done"})
    request_fd, answer_fd = config["call_fds"]
    serve(executed.namespace, int(request_fd), int(answer_fd), float(config["test_timeout"]))


def probe() -> None:
    """``--probe``: can we drop privileges as configured and still import what grading needs?"""
    config = json.loads(sys.stdin.read())
    drop_privileges(int(config["uid"]), int(config["gid"]), keep_read=bool(config["keep_read"]))
    import cloudpickle  # noqa: F401
    import numpy  # noqa: F401

    from rlhf_edu.grading import protocol  # noqa: F401

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
