"""What a label costs: a stated seconds-per-label model for each feedback form.

A person reads the responses, decides, and (for comments and edits) types. So

    seconds(form) = words_read / reading_rate + decisions * seconds_per_decision
                    + words_typed / typing_rate (+ seconds to find the edit, for edits)

Rates and their sources:

- ``reading_wpm = 238``: silent reading of non-fiction by adults, the meta-analysis of
  Brysbaert (2019), "How many words do we read per minute? A review and meta-analysis of reading
  rate", Journal of Memory and Language 109, 104047.
- ``typing_wpm = 52``: the mean of 168,000 volunteers' typing tests, Dhakal, Feit, Kristensson
  and Oulasvirta (2018), "Observations on typing from 136 million keystrokes", CHI 2018.
- ``seconds_per_decision = 2``, ``seconds_per_star_decision = 3``, ``seconds_to_find_edit = 5``
  and ``comment_words = 6`` are this course's assumptions, not measurements: change them (a
  labelling session with ``rlhf-edu label`` is a way to measure your own) and the comparison of
  forms at equal cost changes with them, which is part of the lesson.

A ranking of ``k`` responses is counted as the ``ceil(log2(k!))`` binary decisions a sort needs
at best (k = 2: one, k = 4: five). Implicit feedback (clicks, dwell time) costs the annotator
nothing: it is what users do anyway.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rlhf_edu.utils.validation import check_float, check_int

__all__ = ["CostModel", "label_seconds", "labels_for_budget"]

_FORMS = ("pairs", "edits", "rankings", "thumbs", "stars", "comments", "clicks")


@dataclass(frozen=True)
class CostModel:
    """The rates of the module docstring (sources there); all in words per minute or seconds."""

    reading_wpm: float = 238.0
    typing_wpm: float = 52.0
    seconds_per_decision: float = 2.0
    seconds_per_star_decision: float = 3.0
    seconds_to_find_edit: float = 5.0
    comment_words: int = 6

    def __post_init__(self) -> None:
        for name in ("reading_wpm", "typing_wpm"):
            check_float(name, getattr(self, name), 0.0, low_open=True)
        for name in ("seconds_per_decision", "seconds_per_star_decision", "seconds_to_find_edit"):
            check_float(name, getattr(self, name), 0.0)
        check_int("comment_words", self.comment_words, low=0)


def label_seconds(
    form: str, words_per_response: float, k: int = 4, cost: CostModel | None = None
) -> float:
    """Seconds one label of ``form`` takes, for responses of ``words_per_response`` words."""
    cost = CostModel() if cost is None else cost
    if form not in _FORMS:
        raise ValueError(f"form must be one of {', '.join(_FORMS)}, got {form!r}")
    words = check_float("words_per_response", words_per_response, 0.0)
    k = check_int("k", k, low=2)
    read = 60.0 * words / cost.reading_wpm  # seconds to read one response
    if form == "clicks":
        return 0.0
    if form == "pairs":
        return 2 * read + cost.seconds_per_decision
    if form == "rankings":
        decisions = math.ceil(math.log2(math.factorial(k)))
        return k * read + decisions * cost.seconds_per_decision
    if form == "thumbs":
        return read + cost.seconds_per_decision
    if form == "stars":
        return read + cost.seconds_per_star_decision
    if form == "comments":
        return read + cost.seconds_per_decision + 60.0 * cost.comment_words / cost.typing_wpm
    # edits: read, find the change, type one word
    return read + cost.seconds_to_find_edit + 60.0 / cost.typing_wpm


def labels_for_budget(
    form: str,
    budget_seconds: float,
    words_per_response: float,
    k: int = 4,
    cost: CostModel | None = None,
) -> int:
    """How many labels of ``form`` a budget of annotator seconds buys (at least 1)."""
    budget_seconds = check_float("budget_seconds", budget_seconds, 0.0, low_open=True)
    seconds = label_seconds(form, words_per_response, k, cost)
    if seconds == 0.0:
        raise ValueError(f"{form} cost the annotator nothing: a budget does not limit them")
    return max(1, int(budget_seconds // seconds))
