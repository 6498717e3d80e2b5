"""What the grader and the sandboxed worker say to each other, shared by both ends.

Two channels, both pipes:

- **events** (worker -> grader, JSON lines): how the notebook's cells went (``Event`` names the
  kinds). The grader reads them with ``parse_event``, which accepts only the known shapes, within
  ``MAX_EVENT_BYTES`` a line; nothing on this channel can change a score.
- **calls** (grader <-> worker, length-prefixed frames): the graded tests, running in the grader's
  trusted test runner, send ``(function name, args, kwargs)`` in (cloudpickle: environments,
  closures and models included); the worker runs the student's function and answers with the
  return value and the arguments it may have mutated, encoded by ``encode`` as *plain data*
  only. ``decode`` rebuilds numbers, strings, None, lists, tuples, dicts, numpy arrays of numeric
  or bool dtype, torch tensors and the data classes in ``ALLOWED_DATACLASSES``; it never builds a
  class the student defined, so no ``__eq__`` of theirs runs in the grader.
"""

from __future__ import annotations

import base64
import dataclasses
import importlib
import json
import os
import select
import struct
from typing import Any


class Event:
    """The kinds of events a worker reports (the ``"event"`` field)."""

    STARTED = "started"
    CELL_START = "cell_start"
    CELL_END = "cell_end"
    CELLS_DONE = "cells_done"
    WORKER_ERROR = "worker_error"


class RunnerEvent:
    """The kinds of events the trusted test runner reports to the grader."""

    TEST_START = "test_start"
    TEST_REPORT = "test_report"
    TEST_END = "test_end"
    WORKER_LOST = "worker_lost"
    DONE = "done"


MAX_EVENT_BYTES = 64 * 1024  # one event line from a worker
MAX_EVENTS = 5_000  # events read from one worker (a notebook has far fewer cells)
MAX_FRAME_BYTES = 64 * 2**20  # one answer to a call
MAX_DEPTH = 32

_STR, _INT, _OPT_STR = (str,), (int,), (str, type(None))
_EVENT_FIELDS: dict[str, dict[str, tuple]] = {
    Event.STARTED: {},
    Event.CELL_START: {"index": _INT},
    Event.CELL_END: {"index": _INT, "status": _STR, "error": _STR},
    Event.CELLS_DONE: {},
    Event.WORKER_ERROR: {"error": _STR},
}
CELL_STATUSES = ("ok", "error", "timeout", "skipped")


def parse_event(line: bytes) -> dict | None:
    """A worker's event with only its known fields, or None if it is not one of the shapes."""
    if len(line) > MAX_EVENT_BYTES:
        return None
    try:
        event = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    if not isinstance(event, dict) or event.get("event") not in _EVENT_FIELDS:
        return None
    fields = _EVENT_FIELDS[event["event"]]
    for name, kinds in fields.items():
        value = event.get(name)
        if not isinstance(value, kinds) or isinstance(value, bool):
            return None
    if event["event"] == Event.CELL_END and event["status"] not in CELL_STATUSES:
        return None
    return {"event": event["event"], **{name: event[name] for name in fields}}


# --- frames -----------------------------------------------------------------------------------


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data``, waiting whenever the pipe is full, even if the notebook made ``fd``
    non-blocking (it shares the open file with us)."""
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            select.select([], [fd], [], 1.0)


def write_frame(fd: int, data: bytes) -> None:
    write_all(fd, struct.pack(">Q", len(data)) + data)


def read_exactly(fd: int, size: int) -> bytes:
    """``size`` bytes from ``fd``; raises EOFError if it closes first."""
    parts, left = [], size
    while left:
        try:
            chunk = os.read(fd, min(left, 1 << 20))
        except BlockingIOError:  # made non-blocking by the notebook: wait for data
            select.select([fd], [], [], 1.0)
            continue
        if not chunk:
            raise EOFError("the pipe closed")
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def read_frame(fd: int, limit: int = MAX_FRAME_BYTES) -> bytes:
    (size,) = struct.unpack(">Q", read_exactly(fd, 8))
    if size > limit:
        raise ValueError(f"an answer of {size} bytes is over the {limit}-byte limit")
    return read_exactly(fd, size)


# --- plain data -------------------------------------------------------------------------------

#: Data classes of the project that an exercise may return (module, class name).
ALLOWED_DATACLASSES = {
    "rlhf_edu.rlhf.preferences:PreferencePair",
    "rlhf_edu.tabular.result:TabularResult",
}


class NotPlainData(TypeError):
    """A value the grader does not accept from a student's function."""


def _numpy_ok(dtype) -> bool:
    return dtype.kind in "biuf" and not dtype.hasobject


def encode(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON-able plain data; raises NotPlainData for anything else."""
    if depth > MAX_DEPTH:
        raise NotPlainData("nested too deeply")
    kind = type(value)
    if value is None or kind in (bool, str):
        return value
    if kind is int:
        return value if abs(value) < 2**63 else {"t": "bigint", "v": str(value)}
    if kind is float:
        return {"t": "float", "v": value.hex()}
    if kind in (list, tuple):
        return {"t": kind.__name__, "v": [encode(v, depth + 1) for v in value]}
    if kind is dict:
        return {
            "t": "dict",
            "v": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in value.items()],
        }
    module = getattr(kind, "__module__", "") or ""
    if module == "numpy" or module.startswith("numpy."):
        import numpy as np

        if isinstance(value, np.ndarray) and kind is np.ndarray and _numpy_ok(value.dtype):
            data = np.array(value, order="C", copy=True)  # 0-d stays 0-d
            return {
                "t": "ndarray",
                "dtype": data.dtype.str,
                "shape": list(data.shape),
                "v": base64.b64encode(data.tobytes()).decode(),
            }
        if isinstance(value, np.generic) and _numpy_ok(value.dtype):
            return {
                "t": "npscalar",
                "dtype": value.dtype.str,
                "v": base64.b64encode(value.tobytes()).decode(),
            }
    if module.startswith("torch"):
        import torch

        if kind in (torch.Tensor, torch.nn.Parameter):
            array = value.detach().cpu().resolve_conj().resolve_neg().numpy()
            if not _numpy_ok(array.dtype):
                raise NotPlainData(f"a tensor of dtype {value.dtype}")
            return {
                "t": "tensor",
                "dtype": str(value.dtype).removeprefix("torch."),
                "requires_grad": bool(value.requires_grad),
                "v": encode(array, depth + 1),
            }
    name = f"{module}:{kind.__qualname__}"
    if name in ALLOWED_DATACLASSES and dataclasses.is_dataclass(value):
        fields = {
            f.name: encode(getattr(value, f.name), depth + 1) for f in dataclasses.fields(value)
        }
        return {"t": "dataclass", "cls": name, "v": fields}
    raise NotPlainData(f"a value of type {module}.{kind.__qualname__}")


def decode(data: Any, depth: int = 0) -> Any:
    """The value ``encode`` wrote; raises NotPlainData for anything else."""
    if depth > MAX_DEPTH:
        raise NotPlainData("nested too deeply")
    if data is None or type(data) in (bool, int, str):
        return data
    if type(data) is not dict or not isinstance(data.get("t"), str):
        raise NotPlainData(f"unexpected {type(data).__name__}")
    tag, v = data["t"], data.get("v")
    if tag == "float":
        return float.fromhex(str(v))
    if tag == "bigint":
        return int(str(v)[:10_000])
    if tag in ("list", "tuple") and type(v) is list:
        items = [decode(x, depth + 1) for x in v]
        return items if tag == "list" else tuple(items)
    if tag == "dict" and type(v) is list:
        return {_key(decode(k, depth + 1)): decode(x, depth + 1) for k, x in (_pair(p) for p in v)}
    if tag in ("ndarray", "npscalar"):
        import numpy as np

        dtype = np.dtype(str(data.get("dtype")))
        if not _numpy_ok(dtype):
            raise NotPlainData(f"an array of dtype {dtype}")
        raw = base64.b64decode(str(v), validate=True)
        if tag == "npscalar":
            return np.frombuffer(raw, dtype=dtype, count=1)[0]
        shape = tuple(int(n) for n in data.get("shape", []))
        return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
    if tag == "tensor":
        import torch

        array = decode(v, depth + 1)
        tensor = torch.from_numpy(array)
        expected = getattr(torch, str(data.get("dtype")), None)
        if isinstance(expected, torch.dtype) and tensor.dtype != expected:
            tensor = tensor.to(expected)
        return tensor
    if tag == "dataclass" and data.get("cls") in ALLOWED_DATACLASSES and type(v) is dict:
        module, name = str(data["cls"]).split(":")
        cls = getattr(importlib.import_module(module), name)
        return cls(**{str(k): decode(x, depth + 1) for k, x in v.items()})
    raise NotPlainData(f"unexpected tag {tag!r}")


def _pair(item: Any) -> tuple[Any, Any]:
    if type(item) is not list or len(item) != 2:
        raise NotPlainData("a malformed dict item")
    return item[0], item[1]


def _key(key: Any) -> Any:
    if isinstance(key, (list, dict)):
        raise NotPlainData("an unhashable dict key")
    return key
