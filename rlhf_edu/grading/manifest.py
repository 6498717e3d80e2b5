"""The course manifest ``course/course.toml``: modules, their notebooks and graded exercises.

Each exercise names the function the student writes and its reference implementation in
rlhf_edu (``reference = "rlhf_edu.tabular.td:q_learning_update"``).
"""

from __future__ import annotations

import importlib
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ManifestExercise:
    id: str
    title: str
    function: str
    reference: str
    points: float
    module_id: str


@dataclass(frozen=True)
class Module:
    id: str
    slug: str
    title: str
    notebook: str
    exercises: tuple[ManifestExercise, ...]
    lesson: str | None = None

    @property
    def points(self) -> float:
        return sum(e.points for e in self.exercises)


@dataclass(frozen=True)
class Manifest:
    path: Path
    modules: tuple[Module, ...]

    @property
    def exercises(self) -> tuple[ManifestExercise, ...]:
        return tuple(e for m in self.modules for e in m.exercises)

    def exercise(self, exercise_id: str) -> ManifestExercise:
        for e in self.exercises:
            if e.id == str(exercise_id):
                return e
        raise KeyError(f"exercise {exercise_id!r} is not in {self.path}")

    def by_function(self, function: str) -> ManifestExercise | None:
        for e in self.exercises:
            if e.function == function:
                return e
        return None

    def module_for_notebook(self, notebook: str) -> Module | None:
        """The module whose notebook is ``notebook`` (a file name, a path, or a module id like
        ``"03"``); submissions renamed by a course platform still match on the ``NN-`` prefix."""
        name = Path(str(notebook)).name
        for m in self.modules:
            if name in (m.notebook, m.id, f"{m.id}-{m.slug}"):
                return m
        for m in self.modules:
            if name.startswith(f"{m.id}-") or name.startswith(f"{m.id}_"):
                return m
        return None


def project_root() -> Path:
    """The folder holding ``course/``: ``$RLHF_EDU_ROOT``, else the checkout this package is in,
    else the current directory."""
    env = os.environ.get("RLHF_EDU_ROOT")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parents[2]
    if (here / "course" / "course.toml").exists():
        return here
    return Path.cwd()


def default_manifest_path() -> Path:
    return project_root() / "course" / "course.toml"


#: path -> ((mtime_ns, size), parsed manifest): graded tests look exercises up thousands of times
_PARSED: dict[Path, tuple[tuple[int, int], Manifest]] = {}


def load_manifest(path: str | Path | None = None) -> Manifest:
    """Parse the manifest (default ``course/course.toml`` of the project).

    The parsed manifest (immutable) is kept until the file changes (its modification time or
    size), so repeated lookups cost a ``stat``, not a parse.

    Raises:
        FileNotFoundError: no manifest at ``path``.
        ValueError: a module or exercise lacks a required key.
    """
    path = Path(path) if path is not None else default_manifest_path()
    stat = path.stat()
    stamp = (stat.st_mtime_ns, stat.st_size)
    cached = _PARSED.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    manifest = _parse_manifest(path)
    _PARSED[path] = (stamp, manifest)
    return manifest


def _parse_manifest(path: Path) -> Manifest:
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    modules = []
    for raw in data.get("modules", []):
        try:
            exercises = tuple(
                ManifestExercise(
                    id=str(e["id"]),
                    title=str(e["title"]),
                    function=str(e["function"]),
                    reference=str(e["reference"]),
                    points=e["points"],
                    module_id=str(raw["id"]),
                )
                for e in raw.get("exercises", [])
            )
            modules.append(
                Module(
                    id=str(raw["id"]),
                    slug=str(raw["slug"]),
                    title=str(raw.get("title", "")),
                    notebook=str(raw["notebook"]),
                    exercises=exercises,
                    lesson=str(raw["lesson"]) if "lesson" in raw else None,
                )
            )
        except KeyError as err:
            raise ValueError(f"{path}: module {raw.get('id', '?')} is missing key {err}") from None
    return Manifest(path=path, modules=tuple(modules))


def import_reference(reference: str) -> Callable:
    """Import ``"package.module:function"``.

    Raises:
        ValueError: ``reference`` is not of the form ``module:function``.
        ImportError / AttributeError: the module or function does not exist.
    """
    module_name, sep, function_name = reference.partition(":")
    if not sep or not module_name or not function_name:
        raise ValueError(f"reference must look like 'package.module:function', got {reference!r}")
    return getattr(importlib.import_module(module_name), function_name)
