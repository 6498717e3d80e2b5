"""Feedback files: every kind round-trips, and a malformed line names its file, line and field."""

from __future__ import annotations

import json

import pytest

from rlhf_edu.rlhf.feedback.records import (
    CommentRecord,
    EditRecord,
    FeedbackFileError,
    RankingRecord,
    RatingRecord,
    read_feedback,
    write_feedback,
)

P = "Review of the hotel:"
RECORDS = {
    "rating": [
        RatingRecord(P, " Clean.", "stars", 4, "ann"),
        RatingRecord(P, " Dirty.", "thumbs", 0),
    ],
    "ranking": [RankingRecord(P, (" A.", " B.", " C."), (2, 0, 1), "ann")],
    "comment": [CommentRecord(P, " Dirty.", "sentiment", "more_positive", "too negative")],
    "edit": [EditRecord(P, " Dirty room.", " Clean room.")],
}


@pytest.mark.parametrize("kind", sorted(RECORDS))
def test_records_round_trip_through_their_file(tmp_path, kind):
    path = write_feedback(RECORDS[kind], tmp_path / f"{kind}.jsonl", kind)
    assert read_feedback(path, kind) == RECORDS[kind]


def test_a_ranking_lists_its_responses_best_first():
    assert RECORDS["ranking"][0].ranked_responses == [" C.", " A.", " B."]


BAD_LINES = [
    ("rating", {"prompt": P, "response": " x", "scale": "stars", "value": 7}, "'value' must be an int in \\[1, 5\\]"),
    ("rating", {"prompt": P, "response": " x", "scale": "likert", "value": 1}, "'scale' must be one of"),
    ("rating", {"prompt": P, "response": " x", "scale": "thumbs", "value": True}, "'value'"),
    ("ranking", {"prompt": P, "responses": [" a", " b"], "ranking": [0, 0]}, "'ranking' must be a permutation of 0..1"),
    ("ranking", {"prompt": P, "responses": [" a"], "ranking": [0]}, "'responses' must be a list of >= 2"),
    ("ranking", {"prompt": P, "responses": [" a", " a"], "ranking": [0, 1]}, "duplicates"),
    ("comment", {"prompt": P, "response": " x", "aspect": "tone", "direction": "up", "text": "t"}, "'aspect' must be one of"),
    ("comment", {"prompt": P, "response": " x", "aspect": "length", "direction": "more_positive", "text": "t"}, "'direction' must be one of \\['shorter', 'longer'\\]"),
    ("edit", {"prompt": P, "original": " x", "edited": ""}, "'edited' must be a non-empty string"),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "record", "message"), BAD_LINES)
def test_a_malformed_record_names_the_file_line_and_field(tmp_path, kind, record, message):
    good = json.dumps(
        {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in vars(RECORDS[kind][0]).items()
            if v is not None
        }
    )
    path = tmp_path / "feedback.jsonl"
    path.write_text(good + "\n\n" + json.dumps(record) + "\n")
    with pytest.raises(FeedbackFileError, match=f"feedback.jsonl:3: .*{message}"):
        read_feedback(path, kind)


def test_files_that_are_not_json_objects_or_missing_are_clear_errors(tmp_path):
    path = tmp_path / "f.jsonl"
    path.write_text("[1, 2]\n")
    with pytest.raises(FeedbackFileError, match="f.jsonl:1: expected a JSON object"):
        read_feedback(path, "edit")
    path.write_text("{not json\n")
    with pytest.raises(FeedbackFileError, match="f.jsonl:1: not valid JSON"):
        read_feedback(path, "edit")
    with pytest.raises(FileNotFoundError, match="no rating file"):
        read_feedback(tmp_path / "missing.jsonl", "rating")
    with pytest.raises(ValueError, match="kind must be one of"):
        read_feedback(path, "likes")
