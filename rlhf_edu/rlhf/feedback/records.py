"""Feedback records and their JSON Lines files: ratings, rankings, comments and edits.

One JSON object per line, by kind:

=========  ==========================================================================
kind       fields
=========  ==========================================================================
rating     ``prompt``, ``response``, ``scale`` ("thumbs": 0/1, or "stars": 1-5),
           ``value``, optional ``annotator``
ranking    ``prompt``, ``responses`` (k >= 2 distinct texts), ``ranking`` (a permutation
           of 0..k-1, best first), optional ``annotator``
comment    ``prompt``, ``response``, ``aspect``, ``direction``, ``text``, optional
           ``annotator``
edit       ``prompt``, ``original``, ``edited``, optional ``annotator``
=========  ==========================================================================

``read_feedback(path, kind)`` validates every line and raises ``FeedbackFileError`` naming the
file, the line and the field (a rating outside its scale, a ranking that is not a permutation, a
comment on an unknown aspect ...). ``write_feedback`` writes atomically.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from rlhf_edu.rlhf.feedback.annotators import ASPECTS
from rlhf_edu.rlhf.preferences import iter_jsonl_objects
from rlhf_edu.utils.checkpoint import atomic_write_bytes

__all__ = [
    "CommentRecord",
    "EditRecord",
    "FeedbackFileError",
    "RankingRecord",
    "RatingRecord",
    "read_feedback",
    "write_feedback",
]

SCALES = {"thumbs": (0, 1), "stars": (1, 5)}


class FeedbackFileError(ValueError):
    """A feedback file has a malformed line (the message names the file, line and field)."""


def _text(record: dict, name: str) -> str:
    value = record.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"field {name!r} must be a non-empty string, got {value!r}")
    return value


def _annotator(record: dict) -> str | None:
    value = record.get("annotator")
    if value is not None and not isinstance(value, str):
        raise ValueError(f"field 'annotator' must be a string, got {value!r}")
    return value


@dataclass(frozen=True)
class RatingRecord:
    """A rating of one response on a ``scale`` ("thumbs" 0/1 or "stars" 1-5)."""

    prompt: str
    response: str
    scale: str
    value: int
    annotator: str | None = None

    @classmethod
    def from_dict(cls, record: dict) -> RatingRecord:
        scale = record.get("scale")
        if scale not in SCALES:
            raise ValueError(f"field 'scale' must be one of {sorted(SCALES)}, got {scale!r}")
        low, high = SCALES[scale]
        value = record.get("value")
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(
                f"field 'value' must be an int in [{low}, {high}] for {scale}, got {value!r}"
            )
        return cls(
            _text(record, "prompt"), _text(record, "response"), scale, value, _annotator(record)
        )


@dataclass(frozen=True)
class RankingRecord:
    """A ranking of ``responses``: ``ranking`` lists their indices, best first."""

    prompt: str
    responses: tuple[str, ...]
    ranking: tuple[int, ...]
    annotator: str | None = None

    @classmethod
    def from_dict(cls, record: dict) -> RankingRecord:
        responses = record.get("responses")
        if not isinstance(responses, list) or len(responses) < 2:
            raise ValueError(f"field 'responses' must be a list of >= 2 texts, got {responses!r}")
        for i, response in enumerate(responses):
            if not isinstance(response, str) or not response.strip():
                raise ValueError(f"field 'responses'[{i}] must be a non-empty string")
        if len(set(responses)) != len(responses):
            raise ValueError("field 'responses' has duplicates: rank distinct responses")
        ranking = record.get("ranking")
        if (
            not isinstance(ranking, list)
            or any(isinstance(i, bool) or not isinstance(i, int) for i in ranking)
            or sorted(ranking) != list(range(len(responses)))
        ):
            raise ValueError(
                f"field 'ranking' must be a permutation of 0..{len(responses) - 1} (best first), "
                f"got {ranking!r}"
            )
        return cls(_text(record, "prompt"), tuple(responses), tuple(ranking), _annotator(record))

    @property
    def ranked_responses(self) -> list[str]:
        """The responses best first."""
        return [self.responses[i] for i in self.ranking]


@dataclass(frozen=True)
class CommentRecord:
    """A critique of one response naming an ``aspect`` and the ``direction`` to improve it."""

    prompt: str
    response: str
    aspect: str
    direction: str
    text: str
    annotator: str | None = None

    @classmethod
    def from_dict(cls, record: dict) -> CommentRecord:
        aspect = record.get("aspect")
        if aspect not in ASPECTS:
            raise ValueError(f"field 'aspect' must be one of {sorted(ASPECTS)}, got {aspect!r}")
        allowed = ASPECTS[aspect] if isinstance(ASPECTS[aspect], tuple) else (ASPECTS[aspect],)
        direction = record.get("direction")
        if direction not in allowed:
            raise ValueError(
                f"field 'direction' must be one of {list(allowed)} for aspect {aspect!r}, "
                f"got {direction!r}"
            )
        return cls(
            _text(record, "prompt"),
            _text(record, "response"),
            aspect,
            direction,
            _text(record, "text"),
            _annotator(record),
        )


@dataclass(frozen=True)
class EditRecord:
    """An annotator's ``edited`` version of an ``original`` response."""

    prompt: str
    original: str
    edited: str
    annotator: str | None = None

    @classmethod
    def from_dict(cls, record: dict) -> EditRecord:
        return cls(
            _text(record, "prompt"),
            _text(record, "original"),
            _text(record, "edited"),
            _annotator(record),
        )


KINDS = {
    "rating": RatingRecord,
    "ranking": RankingRecord,
    "comment": CommentRecord,
    "edit": EditRecord,
}
Record = RatingRecord | RankingRecord | CommentRecord | EditRecord


def _kind(kind: str) -> type:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {sorted(KINDS)}, got {kind!r}")
    return KINDS[kind]


def write_feedback(records: Iterable[Record], path: str | os.PathLike, kind: str) -> Path:
    """Write ``records`` of one ``kind`` as JSON Lines, atomically."""
    cls = _kind(kind)
    lines = []
    for record in records:
        if not isinstance(record, cls):
            raise TypeError(f"a {kind} file holds {cls.__name__}, got {type(record).__name__}")
        fields = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(record).items()}
        if fields.get("annotator") is None:
            fields.pop("annotator", None)
        lines.append(json.dumps(fields, ensure_ascii=False) + "\n")
    return atomic_write_bytes("".join(lines).encode("utf-8"), Path(path))


def read_feedback(path: str | os.PathLike, kind: str) -> list[Record]:
    """Read a JSON Lines file of ``kind`` records; blank lines are skipped.

    Raises:
        FileNotFoundError: no file at ``path``.
        FeedbackFileError: ``file:line: problem`` for the first malformed line.
    """
    cls = _kind(kind)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no {kind} file at {path}")
    records = []
    for where, record in iter_jsonl_objects(path, FeedbackFileError):
        try:
            records.append(cls.from_dict(record))
        except ValueError as err:
            raise FeedbackFileError(f"{where}: {err}") from None
    return records
