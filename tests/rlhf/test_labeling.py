"""Labeling pairs yourself: terminal sessions append and resume; the notebook widget records."""

import pytest

from rlhf_edu.rlhf.labeling import (
    PairLabeler,
    candidate_pairs,
    choice_to_pair,
    label_in_terminal,
    remaining,
)
from rlhf_edu.rlhf.preferences import PreferencePair, read_preferences


@pytest.fixture()
def candidates():
    return candidate_pairs(6, seed=0, source="grammar")


def _answers(*keys):
    keys = list(keys)
    return lambda _prompt: keys.pop(0)


def test_choices_become_pairs_with_the_preferred_response_chosen():
    candidate = ("Review of the gym:", " The class was great.", " The class was boring.")
    assert choice_to_pair(candidate, "1") == PreferencePair(*candidate)
    assert choice_to_pair(candidate, "b") == PreferencePair(
        candidate[0], candidate[2], candidate[1]
    )
    assert choice_to_pair(candidate, "s") is None


def test_terminal_session_appends_and_a_second_session_resumes(tmp_path, candidates):
    out = tmp_path / "mine.jsonl"
    lines = []
    first = label_in_terminal(
        out,
        n=3,
        candidates=candidates,
        input_fn=_answers("1", "x", "2", "s"),
        print_fn=lines.append,
    )
    assert len(first) == 2 and read_preferences(out) == first
    assert any("please type 1, 2, s or q" in line for line in lines)
    # the skipped pair and the unseen ones come back; labeled ones do not
    assert len(remaining(candidates, out)) == 4
    second = label_in_terminal(
        out, n=10, candidates=candidates, input_fn=_answers("2", "q"), print_fn=lines.append
    )
    assert len(second) == 1
    assert read_preferences(out) == first + second


def test_terminal_session_stops_cleanly_at_end_of_input(tmp_path, candidates):
    def no_more_input(_prompt):
        raise EOFError

    assert (
        label_in_terminal(
            tmp_path / "x.jsonl", n=2, candidates=candidates, input_fn=no_more_input, print_fn=print
        )
        == []
    )


def test_terminal_session_refuses_a_malformed_file(tmp_path, candidates):
    out = tmp_path / "broken.jsonl"
    out.write_text("{not json\n")
    with pytest.raises(ValueError, match="broken.jsonl:1"):
        label_in_terminal(out, candidates=candidates, input_fn=_answers("1"), print_fn=print)


def test_notebook_labeler_records_clicks_and_appends(tmp_path, candidates):
    out = tmp_path / "widget.jsonl"
    labeler = PairLabeler(candidates[:3], out=out)
    box = labeler.widget  # builds the ipywidgets without displaying them
    assert "1:" in labeler._text.value
    labeler.choose("1")
    labeler.choose("s")
    labeler.choose("2")
    assert labeler.done and len(labeler.pairs) == 2
    assert read_preferences(out) == labeler.pairs
    assert "All done" in labeler._text.value and box is labeler.widget
    with pytest.raises(IndexError):
        labeler.choose("1")


def test_candidate_source_is_validated():
    with pytest.raises(ValueError, match="source must be"):
        candidate_pairs(2, source="internet")
