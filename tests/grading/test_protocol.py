"""The grader's side of the sandbox, without a sandbox: the plain-data codec, the function server
and its client, delegation, bounded reports and collision-proof names."""

import os
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from rlhf_edu.grading.autograder import unique_names
from rlhf_edu.grading.collect import GradedTest
from rlhf_edu.grading.delegation import delegated_exercises
from rlhf_edu.grading.manifest import load_manifest
from rlhf_edu.grading.protocol import NotPlainData, decode, encode, parse_event
from rlhf_edu.grading.pytest_plugin import MissingFunction
from rlhf_edu.grading.remote import RemoteSubmission, StudentError
from rlhf_edu.grading.reports import (
    MAX_FEEDBACK_CHARS,
    escape_inline,
    feedback_markdown,
    results_json,
)
from rlhf_edu.grading.results import CellReport, SubmissionResult, TestResult
from rlhf_edu.grading.sandbox import serve
from rlhf_edu.rlhf.preferences import PreferencePair


def roundtrip(value):
    return decode(encode(value))


def test_plain_data_comes_back_equal_with_its_types():
    value = {
        "n": 3,
        "big": 2**80,
        "x": 0.1,
        "nan": float("nan"),
        "s": "é",
        "none": None,
        "flag": True,
        (1, 2): [1.5, (2, "a")],
        "q": np.arange(12, dtype=np.float32).reshape(3, 4),
        "mask": np.array([True, False]),
        "scalar": np.int64(7),
    }
    back = roundtrip(value)
    assert back["n"] == 3 and back["big"] == 2**80 and back["x"] == 0.1 and back["s"] == "é"
    assert np.isnan(back["nan"]) and back[(1, 2)] == [1.5, (2, "a")] and back["flag"] is True
    np.testing.assert_array_equal(back["q"], value["q"])
    assert back["q"].dtype == np.float32 and back["mask"].dtype == bool
    assert back["scalar"] == 7 and back["scalar"].dtype == np.int64
    assert roundtrip(np.float64(2.5)) == 2.5 and roundtrip(np.array(3.0)).shape == ()
    assert roundtrip(torch.tensor(1.5)).shape == ()  # a scalar loss stays a scalar
    tensor = roundtrip(torch.tensor([[1.0, 2.0]], dtype=torch.float64))
    assert tensor.dtype == torch.float64 and tensor.tolist() == [[1.0, 2.0]]
    pair = roundtrip(PreferencePair("p", " a", " b"))
    assert type(pair) is PreferencePair and pair == PreferencePair("p", " a", " b")


class Anything(float):
    def __eq__(self, other):
        return True

    __hash__ = float.__hash__


@pytest.mark.parametrize(
    "value",
    [
        Anything(0.5),
        np.array([Anything(1.0)], dtype=object),
        np.array(["a", "b"]),
        [1, {"nested": object()}],
        np.ma.masked_array([1.0]),
        lambda: 1,
    ],
)
def test_nothing_but_plain_data_is_encoded(value):
    with pytest.raises(NotPlainData):
        encode(value)


@pytest.mark.parametrize(
    "forged",
    [
        {"t": "dataclass", "cls": "os:system", "v": {"command": "true"}},
        {"t": "ndarray", "dtype": "|O", "shape": [1], "v": ""},
        {"t": "pickle", "v": "gASVAAAAAAAAAAA="},
        {"t": "dict", "v": [[{"t": "list", "v": []}, 1]]},
        [1, 2],
        1.5,
        {"t": "list", "v": "not a list"},
    ],
)
def test_the_decoder_builds_nothing_but_plain_data(forged):
    with pytest.raises((NotPlainData, ValueError, TypeError)):
        decode(forged)


def test_worker_events_over_the_size_limit_are_ignored():
    assert parse_event(b'{"event": "cells_done"}') == {"event": "cells_done"}
    assert parse_event(b'{"event": "cells_done", "pad": "' + b"x" * 100_000 + b'"}') is None


@pytest.fixture
def served():
    """``served(namespace) -> RemoteSubmission`` answered by ``serve`` in a thread."""
    threads, fds = [], []

    def start(namespace, call_timeout=10.0):
        request_r, request_w = os.pipe()
        answer_r, answer_w = os.pipe()
        fds.extend([request_w, answer_r])
        thread = threading.Thread(
            target=serve, args=(namespace, request_r, answer_w, call_timeout), daemon=True
        )
        thread.start()
        threads.append(thread)
        return RemoteSubmission(request_w, answer_r, call_timeout)

    yield start
    for fd in fds:
        os.close(fd)
    for thread in threads:
        thread.join(timeout=5)


def test_calls_run_remotely_and_in_place_updates_come_back(served):
    namespace = {}
    exec(
        "def update(Q, s, a, target, alpha):\n"
        "    Q[s, a] += alpha * (target - Q[s, a])\n"
        "def append(items):\n"
        "    items.append(len(items))\n"
        "    return items\n"
        "def checked(n):\n"
        "    if n < 1:\n"
        "        raise ValueError('n must be >= 1')\n"
        "    return n\n"
        "def draw(rng):\n"
        "    return float(rng.random())\n"
        "def sneaky():\n"
        "    class Always:\n"
        "        def __eq__(self, other):\n"
        "            return True\n"
        "    return Always()\n",
        namespace,
    )
    remote = served(namespace)
    Q = np.zeros((2, 2))
    assert remote.function("update")(Q, 1, 0, 2.0, 0.5) is None
    assert Q[1, 0] == 1.0
    items = [7]
    assert remote.function("append")(items) == [7, 1] and items == [7, 1]
    rng = np.random.default_rng(5)
    picks = [remote.function("draw")(rng) for _ in range(3)]
    expected = np.random.default_rng(5)
    assert picks == [float(expected.random()) for _ in range(3)]  # the test's rng advanced
    with pytest.raises(ValueError, match="n must be >= 1"):
        remote.function("checked")(0)
    with pytest.raises(StudentError, match="does not accept|returned"):
        remote.function("sneaky")()
    with pytest.raises(MissingFunction):
        remote.function("nope")()
    assert remote.function("checked")(3) == 3  # the server still serves


def test_gradients_flow_back_through_a_remote_loss(served):
    namespace = {}
    exec(
        "import torch\ndef loss(logprobs, returns):\n    return -(logprobs * returns).mean()\n",
        namespace,
    )
    remote = served(namespace)
    logprobs = torch.tensor([-0.5, -1.0, -2.0], requires_grad=True)
    returns = torch.tensor([1.0]).expand(3)  # read-only view: not written back (unchanged)
    value = remote.function("loss")(logprobs, returns)
    assert value.shape == ()
    value.backward()
    torch.testing.assert_close(logprobs.grad, -returns / 3)


def test_exercises_handed_to_the_reference_are_flagged():
    functions = {"0.1": "estimate_success_rate"}
    own = "def estimate_success_rate(env, policy, n, seed):\n    return 0.5\n"
    assert delegated_exercises([own], functions) == {}
    imported = "from rlhf_edu.envs.evaluation import estimate_success_rate"
    assert "does not define" in delegated_exercises([imported], functions)["0.1"]
    assert "0.1" in delegated_exercises([own, imported], functions)  # imported over it
    assert delegated_exercises([imported, own], functions) == {}  # written over the import
    assigned = (
        "import rlhf_edu.envs.evaluation as e\nestimate_success_rate = e.estimate_success_rate"
    )
    assert "0.1" in delegated_exercises([assigned], functions)
    wrapped = (
        "from rlhf_edu.envs.evaluation import estimate_success_rate as ref\n"
        "def estimate_success_rate(env, policy, n, seed):\n"
        '    """Mine."""\n'
        "    return ref(env, policy, n, seed)\n"
    )
    assert "only calls" in delegated_exercises([wrapped], functions)["0.1"]
    assert "0.1" in delegated_exercises([], functions)


def big_result(n_cells: int) -> SubmissionResult:
    module = load_manifest().modules[0]
    test = GradedTest("tests/graded/t.py::test_a", "test_a", "0.1", 2)
    result = SubmissionResult("alice", Path("alice.ipynb"), module, seed=1)
    result.tests = [TestResult(test, False, "```\n# forged heading\n" + "y" * 10_000)]
    for i in range(n_cells):
        result.cells[i] = CellReport(i, "error", "x" * 4000)
    result.problems = [f"problem {i} [link](http://x) <b>" for i in range(200)]
    return result


def test_reports_stay_small_and_escape_what_the_student_wrote():
    result = big_result(20_000)
    feedback = feedback_markdown(result)
    assert len(feedback) <= MAX_FEEDBACK_CHARS + 100
    assert "more cells that did not run" in feedback and "more problems" in feedback
    assert "\n# forged heading" not in feedback.replace("  # forged heading", "")
    assert "<b>" not in feedback and "\\[link\\]" in feedback
    assert len(str(results_json(result))) < 100_000
    assert escape_inline("a\n# b `c` <i>") == "a \\# b \\`c\\` \\<i\\>"


def test_output_folders_are_unique_and_never_a_reserved_name():
    paths = [Path(p) for p in ("a/alice.ipynb", "b/Alice.ipynb", "alice-2.ipynb", "x/alice.ipynb")]
    paths += [Path("grades.csv.ipynb"), Path("../../etc.ipynb"), Path("....ipynb")]
    names = unique_names(paths)
    assert len({n.lower() for n in names}) == len(names)
    assert "grades.csv" not in names and all("/" not in n and n not in ("", "..") for n in names)


def test_the_grader_is_in_small_parts_without_import_cycles_or_torch():
    import ast
    import subprocess
    import sys

    folder = Path(__file__).resolve().parents[2] / "rlhf_edu" / "grading"
    graph = {}
    for path in folder.glob("*.py"):
        tree = ast.parse(path.read_text())
        names = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "rlhf_edu.grading"
            ):
                names.add(node.module.split(".")[2] if node.module.count(".") >= 2 else None)
                if node.module == "rlhf_edu.grading":
                    names |= {alias.name for alias in node.names}
        graph[path.stem] = {n for n in names if n and n != path.stem and n != "__init__"}
        assert len(path.read_text().splitlines()) <= 320, f"{path.name} is too long"

    def visit(module, trail):
        assert module not in trail, f"import cycle: {' -> '.join([*trail, module])}"
        for other in graph.get(module, ()):
            visit(other, [*trail, module])

    for module in graph:
        if module != "__init__":
            visit(module, [])
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, rlhf_edu.grading.autograder; print('torch' in sys.modules)",
        ],
        capture_output=True,
        text=True,
    )
    assert loaded.stdout.strip() == "False", loaded.stderr
