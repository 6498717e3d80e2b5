"""Label preference pairs yourself: in the terminal (``rlhf-edu label``) or in a notebook.

Both show a prompt and two responses, record which one you prefer as a
:class:`~rlhf_edu.rlhf.preferences.PreferencePair`, and append it to a JSON Lines file right away
(so stopping at any moment loses nothing). Running again with the same file and seed resumes:
pairs already in the file are not shown again.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from rlhf_edu.rlhf.preferences import (
    PreferencePair,
    read_preferences,
    sample_response_pairs,
    write_preferences,
)

Candidate = tuple[str, str, str]  # (prompt, response_a, response_b)


def candidate_pairs(n: int, seed: int = 0, source: str = "lm") -> list[Candidate]:
    """``n`` (prompt, a, b) triples to label: two samples of the tiny LM for the same prompt
    (``source="lm"``), or two responses from the corpus grammar (``source="grammar"``)."""
    if source == "grammar":
        return sample_response_pairs(n, seed)
    if source != "lm":
        raise ValueError(f"source must be 'lm' or 'grammar', got {source!r}")
    from rlhf_edu.rlhf.corpus import sample_prompts
    from rlhf_edu.rlhf.lm import load_tiny_lm, sample_responses

    model, tokenizer = load_tiny_lm()
    triples: list[Candidate] = []
    round_ = 0
    while len(triples) < n:
        prompts = sample_prompts(n, seed=seed + round_)
        a = sample_responses(model, tokenizer, prompts, seed=seed + 2 * round_)
        b = sample_responses(model, tokenizer, prompts, seed=seed + 2 * round_ + 1)
        triples += [
            (p, x, y) for p, x, y in zip(prompts, a, b) if x.strip() and y.strip() and x != y
        ]
        round_ += 1
    return triples[:n]


def _already_labeled(path: Path) -> set[tuple[str, frozenset[str]]]:
    if not path.exists():
        return set()
    return {(p.prompt, frozenset((p.chosen, p.rejected))) for p in read_preferences(path)}


def remaining(candidates: Sequence[Candidate], path: str | os.PathLike) -> list[Candidate]:
    """The candidates whose pair is not in the file yet (in order)."""
    done = _already_labeled(Path(path))
    return [c for c in candidates if (c[0], frozenset(c[1:])) not in done]


def choice_to_pair(candidate: Candidate, choice: str) -> PreferencePair | None:
    """'1'/'a' prefers the first response, '2'/'b' the second; anything else gives None."""
    prompt, a, b = candidate
    choice = choice.strip().lower()
    if choice in ("1", "a"):
        return PreferencePair(prompt, a, b)
    if choice in ("2", "b"):
        return PreferencePair(prompt, b, a)
    return None


def label_in_terminal(
    out: str | os.PathLike,
    n: int = 20,
    seed: int = 0,
    candidates: Sequence[Candidate] | None = None,
    input_fn: Callable[[str], str] = input,
    print_fn: Callable[[str], None] = print,
) -> list[PreferencePair]:
    """Ask for up to ``n`` choices, appending each to ``out``; returns this session's pairs.

    Keys: ``1`` or ``a`` (first is better), ``2`` or ``b`` (second), ``s`` (skip), ``q`` (quit).
    """
    out = Path(out)
    if out.exists():
        read_preferences(out)  # a malformed file is reported before any work
    pool = list(candidates) if candidates is not None else candidate_pairs(n + 200, seed)
    todo = remaining(pool, out)[:n]
    already = len(_already_labeled(out))
    print_fn(
        f"{already} pair(s) already in {out}; {len(todo)} to label now. "
        "Keys: 1 = first is better, 2 = second, s = skip, q = quit."
    )
    session: list[PreferencePair] = []
    for k, candidate in enumerate(todo, start=1):
        prompt, a, b = candidate
        print_fn(f"\n[{k}/{len(todo)}] {prompt}\n  1:{a}\n  2:{b}")
        while True:
            try:
                answer = input_fn("your choice [1/2/s/q]: ").strip().lower()
            except EOFError:
                answer = "q"
            if answer in ("1", "2", "a", "b", "s", "q"):
                break
            print_fn("please type 1, 2, s or q")
        if answer == "q":
            break
        pair = choice_to_pair(candidate, answer)
        if pair is not None:
            write_preferences([pair], out, append=True)
            session.append(pair)
    print_fn(f"\nrecorded {len(session)} pair(s) this session; {already + len(session)} in {out}")
    return session


class PairLabeler:
    """A small ipywidgets app: a prompt, two responses, buttons "first is better" / "second is
    better" / "skip". Choices accumulate in ``.pairs`` (and are appended to ``out`` if given).

    Build it in one cell and show it in another (``labeler.widget``), so a notebook run without a
    person (CI) still works: ``.pairs`` is then empty. ``choose("1")`` does what a click does.
    """

    def __init__(self, candidates: Sequence[Candidate], out: str | os.PathLike | None = None):
        self.out = Path(out) if out is not None else None
        self.candidates = remaining(candidates, self.out) if self.out else list(candidates)
        self.pairs: list[PreferencePair] = []
        self.position = 0
        self._widget = None

    @property
    def done(self) -> bool:
        return self.position >= len(self.candidates)

    def choose(self, choice: str) -> PreferencePair | None:
        """Record a choice ('1', '2' or 's') for the current candidate and move on."""
        if self.done:
            raise IndexError("no candidates left to label")
        pair = choice_to_pair(self.candidates[self.position], choice)
        if pair is not None:
            self.pairs.append(pair)
            if self.out is not None:
                write_preferences([pair], self.out, append=True)
        self.position += 1
        self._refresh()
        return pair

    @property
    def widget(self):
        """The ipywidgets box (built on first use)."""
        if self._widget is None:
            import ipywidgets as widgets

            self._text = widgets.HTML()
            buttons = []
            for label, choice in (
                ("first is better", "1"),
                ("second is better", "2"),
                ("skip", "s"),
            ):
                button = widgets.Button(description=label)
                button.on_click(lambda _b, c=choice: None if self.done else self.choose(c))
                buttons.append(button)
            self._widget = widgets.VBox([self._text, widgets.HBox(buttons)])
            self._refresh()
        return self._widget

    def _refresh(self) -> None:
        if self._widget is None:
            return
        import html

        if self.done:
            self._text.value = f"<b>All done</b>: {len(self.pairs)} pair(s) recorded."
            return
        prompt, a, b = self.candidates[self.position]
        self._text.value = (
            f"<p>[{self.position + 1}/{len(self.candidates)}] <b>{html.escape(prompt)}</b></p>"
            f"<p>1: {html.escape(a)}</p><p>2: {html.escape(b)}</p>"
        )
