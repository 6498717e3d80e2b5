"""Running a notebook's code cells in this process, to collect the functions it defines.

This is what both ``pytest --submission nb.ipynb`` (in the pytest process, for a student
checking their own work) and the autograder's sandboxed worker (``rlhf_edu.grading.sandbox``)
do: execute the code cells in order in one namespace, each with a time limit, recording and
stepping past every failing cell, so an exercise defined after a broken cell is still graded.

It is *not* a sandbox: untrusted notebooks are graded with ``rlhf-edu grade``, which runs this
inside a separate, resource-limited, unprivileged process.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import json
import linecache
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rlhf_edu.grading.dependencies import to_python
from rlhf_edu.grading.notebooks import cell_source, exercise_metadata

MAX_NOTEBOOK_BYTES = 50 * 2**20
MAX_ERROR_CHARS = 3000


class SubmissionError(ValueError):
    """The submission cannot be read as a notebook at all (not JSON, not nbformat 4, too big)."""


class CellTimeout(BaseException):
    """Raised inside a cell that ran past its time limit (a BaseException so that a bare
    ``except Exception`` in student code does not swallow it)."""


@dataclass
class CodeCell:
    index: int  # position among all the notebook's cells
    source: str
    exercise: str | None = None


@dataclass
class CellResult:
    index: int
    status: str  # "ok", "error", "timeout", "skipped"
    error: str = ""
    exercise: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ExecutedNotebook:
    """The namespace a notebook's cells built, and how each cell went."""

    namespace: dict[str, Any]
    cells: list[CellResult] = field(default_factory=list)
    exercises: list[str] = field(default_factory=list)
    source: str = ""

    def function(self, name: str) -> Callable | None:
        obj = self.namespace.get(name)
        return obj if callable(obj) else None


def load_code_cells(path: str | Path) -> list[CodeCell]:
    """The code cells of a notebook file, validated just enough to run them.

    Raises:
        SubmissionError: not a file, too large, not JSON, or not a Jupyter notebook.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as err:
        raise SubmissionError(f"cannot read {path.name}: {err.strerror}") from None
    if size > MAX_NOTEBOOK_BYTES:
        raise SubmissionError(f"{path.name} is {size / 2**20:.0f} MiB, over the 50 MiB limit")
    raw = path.read_bytes()
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SubmissionError(
            f"{path.name} is not a Jupyter notebook (not valid JSON: {err})"
        ) from None
    return code_cells_from_json(data, path.name)


def code_cells_from_json(data: Any, name: str = "notebook") -> list[CodeCell]:
    """Code cells of an already-parsed notebook (see ``load_code_cells``)."""
    if not isinstance(data, dict) or "nbformat" not in data:
        raise SubmissionError(f"{name} is JSON but not a Jupyter notebook (no 'nbformat' key)")
    if data.get("nbformat") != 4:
        raise SubmissionError(
            f"{name} has nbformat {data.get('nbformat')!r}; save it with Jupyter (nbformat 4)"
        )
    if not isinstance(data.get("cells"), list):
        raise SubmissionError(f"{name} is JSON but not a Jupyter notebook (no list of 'cells')")
    cells = []
    for index, cell in enumerate(data["cells"]):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell_source(cell)
        meta = exercise_metadata(cell) if isinstance(cell.get("metadata"), dict) else None
        cells.append(CodeCell(index, source, str(meta["exercise"]) if meta else None))
    return cells


class _IPythonStub:
    """Enough of ``get_ipython()`` for translated magics: they do nothing when graded."""

    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None


class CappedText(io.TextIOBase):
    """A text stream that keeps the first ``limit`` characters and drops the rest."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[str] = []
        self.size = 0
        self.dropped = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        text = str(text)
        room = self.limit - self.size
        if room > 0:
            self.parts.append(text[:room])
            self.size += min(room, len(text))
        self.dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def getvalue(self) -> str:
        tail = f"\n[... {self.dropped} more characters of output dropped]" if self.dropped else ""
        return "".join(self.parts) + tail


def new_namespace() -> dict[str, Any]:
    return {
        "__name__": "__main__",
        "__builtins__": builtins,
        "get_ipython": _IPythonStub,
        "display": lambda *objs, **kw: print(*objs),
    }


def format_error(err: BaseException, limit: int = MAX_ERROR_CHARS) -> str:
    """The traceback of an exception raised by notebook code, trimmed to the notebook's frames."""
    tb = err.__traceback__
    while tb is not None and not tb.tb_frame.f_code.co_filename.startswith("<cell"):
        tb = tb.tb_next
    text = "".join(traceback.format_exception(type(err), err, tb))
    return text if len(text) <= limit else text[: limit // 2] + "\n[...]\n" + text[-limit // 2 :]


@contextlib.contextmanager
def time_limit(seconds: float | None):
    """Raise ``CellTimeout`` in this (main) thread after ``seconds`` of wall time."""
    usable = seconds and seconds > 0 and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def on_alarm(signum, frame):
        raise CellTimeout(f"cell ran longer than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


_DEFINITIONS = ("Import", "ImportFrom", "FunctionDef", "AsyncFunctionDef", "ClassDef")


def definitions_only(python: str) -> str:
    """Keep a cell's imports, function and class definitions and literal constants only.

    Used to check exercise functions cheaply (without running a notebook's experiments); an
    exercise function must therefore depend only on those.
    """
    import ast

    kept = []
    for stmt in ast.parse(python).body:
        if type(stmt).__name__ in _DEFINITIONS:
            kept.append(stmt)
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
            try:
                ast.literal_eval(stmt.value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                continue
            kept.append(stmt)
    return ast.unparse(ast.Module(body=kept, type_ignores=[]))


def execute_cells(
    cells: Iterable[CodeCell],
    namespace: dict[str, Any] | None = None,
    cell_timeout: float | None = 60.0,
    skip: Iterable[int] = (),
    on_event: Callable[[dict], None] | None = None,
    output_limit: int = 20_000,
    only_definitions: bool = False,
    capture: bool = True,
) -> ExecutedNotebook:
    """Execute ``cells`` in order in ``namespace``; never raises for the cells' errors.

    Args:
        cells: from ``load_code_cells``.
        namespace: the globals to run in (default: a fresh ``__main__``-like namespace).
        cell_timeout: wall seconds per cell (None: no limit). Enforced with SIGALRM, so only
            in the main thread.
        skip: cell indices not to run (cells that killed or hung a previous attempt).
        on_event: called with ``{"event": "cell_start"|"cell_end", ...}`` around each cell.
        output_limit: characters of printed output kept (the rest is dropped, not buffered).
        only_definitions: run only imports, definitions and constants (``definitions_only``).
        capture: keep what the cells print in ``ExecutedNotebook.source`` (False: let it go to
            this process's stdout and stderr, as the sandboxed worker does).
    """
    ns = new_namespace() if namespace is None else namespace
    result = ExecutedNotebook(namespace=ns)
    skip = set(skip)
    os.environ.setdefault("MPLBACKEND", "Agg")
    output = CappedText(output_limit)
    for cell in cells:
        if cell.exercise is not None:
            result.exercises.append(cell.exercise)
        if cell.index in skip:
            result.cells.append(
                CellResult(
                    cell.index,
                    "skipped",
                    "skipped: it crashed or hung an earlier run",
                    cell.exercise,
                )
            )
            continue
        if on_event:
            on_event({"event": "cell_start", "index": cell.index})
        status, error = "ok", ""
        try:
            filename = f"<cell {cell.index}>"
            python = to_python(cell.source)
            if only_definitions:
                python = definitions_only(python)
            linecache.cache[filename] = (len(python), None, python.splitlines(True), filename)
            code = compile(python, filename, "exec")
            redirect = capture or sys.stdout is not sys.__stdout__
            out_stream = output if capture else sys.__stdout__
            err_stream = output if capture else sys.__stderr__
            with contextlib.ExitStack() as stack:
                if redirect:
                    stack.enter_context(contextlib.redirect_stdout(out_stream))
                    stack.enter_context(contextlib.redirect_stderr(err_stream))
                with time_limit(cell_timeout):
                    exec(code, ns)
        except CellTimeout as err:
            status, error = "timeout", f"CellTimeout: {err}"
        except SyntaxError as err:
            status, error = "error", "".join(traceback.format_exception_only(type(err), err))
        except BaseException as err:  # noqa: BLE001 - SystemExit, KeyboardInterrupt too
            status, error = "error", format_error(err)
        finally:
            if "matplotlib.pyplot" in sys.modules:
                with contextlib.suppress(Exception):
                    sys.modules["matplotlib.pyplot"].close("all")
        cell_result = CellResult(cell.index, status, error, cell.exercise)
        result.cells.append(cell_result)
        if on_event:
            on_event({"event": "cell_end", **cell_result.to_dict()})
    result.source = output.getvalue()
    return result
