"""The grader's end of the function server: ``solution.fn(*args)`` runs in the sandbox.

``RemoteSubmission.function(name)`` gives a callable that sends its arguments to the worker
(``rlhf_edu.grading.sandbox.serve``), waits at most ``call_timeout`` seconds, and returns the
decoded answer (``protocol.decode``: plain data only). Arguments the function mutated come back
and are written into the caller's objects in place (numpy arrays, torch tensors, lists, dicts),
so in-place exercises keep working; a tensor result that depends on arguments requiring grad
carries the worker's Jacobian, so ``.backward()`` in the test fills those arguments' ``.grad``.

A call that hangs or crashes the worker raises ``WorkerLost``: that test fails, and the runner
stops so that the grader can start a fresh worker for the remaining tests.
"""

from __future__ import annotations

import builtins
import json
import os
import select
import sys
import time
from typing import Any

from rlhf_edu.grading.protocol import NotPlainData, decode, read_frame, write_frame

#: Exceptions a student's function may raise that a graded test can expect (pytest.raises).
EXPECTABLE = {"ValueError", "TypeError", "IndexError", "KeyError", "ZeroDivisionError"}


class WorkerLost(AssertionError):
    """The call hung or crashed the notebook's process (the test fails; the worker restarts)."""


class StudentError(AssertionError):
    """The student's function raised an exception the grader does not re-raise as itself."""


class RemoteSubmission:
    """The notebook's functions, served by a sandboxed worker over two pipes."""

    def __init__(self, request_fd: int, answer_fd: int, call_timeout: float) -> None:
        self.request_fd = request_fd
        self.answer_fd = answer_fd
        self.call_timeout = call_timeout
        self.lost = ""  # why the worker is gone ("" while it serves)
        self._registered: set[str] = set()

    def function(self, name: str) -> RemoteFunction:
        return RemoteFunction(self, name)

    def _pickle_tests_by_value(self) -> None:
        """Send the graded tests' own helpers (lambdas, policies) by value: the sandbox cannot
        import the test modules."""
        import cloudpickle

        for module_name, module in list(sys.modules.items()):
            path = getattr(module, "__file__", None) or ""
            if module_name not in self._registered and (
                module_name.startswith("test_") or module_name == "conftest"
            ):
                if path and os.path.basename(path).startswith(("test_", "conftest")):
                    cloudpickle.register_pickle_by_value(module)
                    self._registered.add(module_name)

    def call(self, name: str, args: tuple, kwargs: dict) -> Any:
        import cloudpickle

        __tracebackhide__ = True
        if self.lost:
            raise WorkerLost(self.lost)
        self._pickle_tests_by_value()
        request = cloudpickle.dumps({"name": name, "args": args, "kwargs": kwargs})
        try:
            write_frame(self.request_fd, request)
            answer = self._answer()
        except (OSError, EOFError, ValueError) as err:
            self.lost = f"the notebook's process stopped answering in {name}() ({err})"
            raise WorkerLost(self.lost) from None
        return self._result(name, answer, args, kwargs)

    def _answer(self) -> dict:
        deadline = time.monotonic() + self.call_timeout + 5.0
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ValueError(f"no answer within {self.call_timeout:g} s")
            ready, _, _ = select.select([self.answer_fd], [], [], left)
            if ready:
                break
        data = json.loads(read_frame(self.answer_fd).decode("utf-8"))
        if not isinstance(data, dict):
            raise ValueError("a malformed answer")
        return data

    def _result(self, name: str, answer: dict, args: tuple, kwargs: dict) -> Any:
        __tracebackhide__ = True
        status = answer.get("status")
        if status == "missing":
            from rlhf_edu.grading.pytest_plugin import MissingFunction

            raise MissingFunction(
                f"the notebook does not define a function named {name!r} "
                "(did its cell raise? keep the name and signature the notebook gives)"
            )
        if status == "raised":
            kind, text = str(answer.get("error_type")), str(answer.get("error", ""))[:8000]
            if kind in EXPECTABLE:
                raise getattr(builtins, kind)(f"{name}() raised {kind}:\n{text}")
            raise StudentError(f"{name}() raised {kind}:\n{text}")
        if status in ("timeout", "bad_value"):
            raise StudentError(f"{name}(): {str(answer.get('error', ''))[:2000]}")
        if status != "ok":
            raise StudentError(f"{name}(): the notebook's process gave no usable answer")
        try:
            value = decode(answer.get("value"))
            _write_back(args, answer.get("args"), kwargs, answer.get("kwargs"))
            grads = answer.get("grads") or {}
            if grads:
                value = _attach_gradients(value, args, grads)
        except (NotPlainData, ValueError, TypeError, KeyError, RecursionError) as err:
            raise StudentError(
                f"{name}() returned a value the grader does not accept: {err}"
            ) from None
        return value


class RemoteFunction:
    def __init__(self, submission: RemoteSubmission, name: str) -> None:
        self.submission = submission
        self.__name__ = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        return self.submission.call(self.__name__, args, kwargs)

    def __repr__(self) -> str:
        return f"<the notebook's {self.__name__}, run in its sandbox>"


def _write_back(args: tuple, sent: Any, kwargs: dict, sent_kwargs: Any) -> None:
    pairs = []
    if isinstance(sent, list) and len(sent) == len(args):
        pairs += list(zip(args, sent))
    if isinstance(sent_kwargs, dict):
        pairs += [(kwargs[k], v) for k, v in sent_kwargs.items() if k in kwargs]
    for original, item in pairs:
        if isinstance(item, dict) and "v" in item:
            try:
                _update_in_place(original, decode(item["v"]))
            except RuntimeError as err:  # e.g. an expanded tensor, written in place
                raise NotPlainData(f"an argument it changed cannot be updated: {err}") from None
        elif isinstance(item, dict) and "rng" in item:
            _set_generator_state(original, decode(item["rng"]))


def _set_generator_state(original: Any, state: Any) -> None:
    """Advance the test's random generator as the function advanced its copy."""
    import numpy as np

    try:
        if isinstance(original, np.random.Generator) and isinstance(state, dict):
            original.bit_generator.state = state
        elif "torch" in sys.modules and isinstance(original, sys.modules["torch"].Generator):
            original.set_state(state)
    except (ValueError, TypeError, KeyError, RuntimeError) as err:
        raise NotPlainData(f"a random generator's state that does not fit: {err}") from None


def _update_in_place(original: Any, new: Any) -> None:
    import numpy as np

    if isinstance(original, np.ndarray) and isinstance(new, np.ndarray):
        if original.shape == new.shape and original.flags.writeable:
            original[...] = new
    elif type(original) is list and isinstance(new, list):
        original[:] = new
    elif type(original) is dict and isinstance(new, dict):
        original.clear()
        original.update(new)
    elif "torch" in sys.modules:
        torch = sys.modules["torch"]
        if isinstance(original, torch.Tensor) and isinstance(new, torch.Tensor):
            if original.shape == new.shape:
                with torch.no_grad():
                    original.copy_(new.to(original.dtype))


def _attach_gradients(value: Any, args: tuple, grads: dict) -> Any:
    """``value`` as a function of the arguments that require grad, with the worker's Jacobians."""
    import torch

    if not isinstance(value, torch.Tensor):
        return value
    inputs, jacobians = [], []
    for key, encoded in grads.items():
        index = int(key)
        if 0 <= index < len(args) and isinstance(args[index], torch.Tensor):
            jacobian = torch.as_tensor(decode(encoded))
            if jacobian.shape != (value.numel(), args[index].numel()):
                raise ValueError("a Jacobian of the wrong shape")
            inputs.append(args[index])
            jacobians.append(jacobian)
    if not inputs:
        return value
    return _Attach.apply(value, jacobians, *inputs)


def _attach_class():
    import torch

    class Attach(torch.autograd.Function):
        @staticmethod
        def forward(ctx, value, jacobians, *inputs):
            ctx.jacobians = jacobians
            ctx.inputs = [(i.shape, i.dtype) for i in inputs]
            return value.detach().clone()

        @staticmethod
        def backward(ctx, grad_output):
            flat = grad_output.reshape(-1).to(torch.float64)
            grads = [
                (flat @ jacobian).reshape(shape).to(dtype)
                for jacobian, (shape, dtype) in zip(ctx.jacobians, ctx.inputs)
            ]
            return (None, None, *grads)

    return Attach


class _LazyAttach:
    def apply(self, *args):
        return _attach_class().apply(*args)


_Attach = _LazyAttach()
