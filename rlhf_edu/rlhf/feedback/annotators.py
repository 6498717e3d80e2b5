"""Synthetic annotators who give feedback in every form people use, each with a stated noise model.

An ``Annotator`` has a hidden utility ``u(x, y)`` (by default the course's "mix" labeler:
sentiment, length and repetition), a noise scale ``T``, a ``bias`` and a ``spam_rate``. Every
answer comes from ``u`` through a known model, so each form's ceiling can be computed:

=============  ===========================================================================
form           noise model
=============  ===========================================================================
pair           Bradley-Terry: ``P(a > b) = sigmoid((u_a - u_b) / T)``
thumbs         logistic: ``P(up) = sigmoid((u + bias - threshold) / T)``
stars (1-5)    ordinal logit: ``u + bias + T * Logistic`` binned at the annotator's 4 cut points
ranking of k   Plackett-Luce: sort ``u / T + Gumbel`` (k = 2 is Bradley-Terry)
comment        names the aspect whose shortfall costs the most utility, drawn with
               ``P(aspect) ∝ exp(shortfall / T)``, and the direction to fix it
edit           the smallest change (one word, one sentence) that raises ``u`` the most
click          ``P(click) = sigmoid((u - threshold) / T)``; dwell seconds log-normal, longer
               for better responses (implicit feedback: noisier, but free)
=============  ===========================================================================

With probability ``spam_rate`` an annotator ignores the response and answers uniformly at random
(an unreliable annotator). All draws use the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from rlhf_edu.rlhf.feedback.rankings import sample_ranking
from rlhf_edu.rlhf.preferences import (
    MIX_WEIGHTS,
    NEGATIVE_WORDS,
    TARGET_WORDS,
    mix_utility,
    repetitions,
    sentiment_utility,
    sigmoid,
    words,
)
from rlhf_edu.utils.validation import check_float, check_probability

__all__ = ["ASPECTS", "Annotator", "Comment", "annotator_pool", "edit_candidates"]

UtilityFn = Callable[[str, str], float]

#: Star cut points on the "mix" utility: its quintiles on 20,000 corpus responses (seed 12345),
#: rounded, so that without noise or bias each star is about equally common on the corpus.
DEFAULT_STAR_EDGES = (-0.75, -0.3, 0.15, 0.55)

#: The aspects a comment can name, with the words it uses for each direction.
ASPECTS = {
    "sentiment": "more_positive",
    "length": ("shorter", "longer"),
    "repetition": "less_repetitive",
}

#: The replacement an editor makes for each negative word (all targets are positive words).
POSITIVE_FOR = {
    "bad": "good", "awful": "wonderful", "rude": "friendly", "dirty": "clean",
    "terrible": "excellent", "cold": "fresh", "stale": "fresh", "slow": "perfect",
    "boring": "lovely", "horrible": "amazing", "noisy": "cozy", "bland": "delicious",
    "hated": "loved", "disliked": "liked", "disappointing": "wonderful", "sadly": "happily",
    "avoid": "enjoyed",
}  # fmt: skip
assert set(POSITIVE_FOR) == set(NEGATIVE_WORDS)

_SENTENCE = re.compile(r"[^.!?]+[.!?]?")


@dataclass(frozen=True)
class Comment:
    """A short critique: the ``aspect`` to improve, the ``direction`` and its ``text``."""

    aspect: str
    direction: str
    text: str


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.findall(text) if s.strip()]


def _join(sentences: Sequence[str]) -> str:
    return " " + " ".join(sentences) if sentences else ""


def edit_candidates(response: str) -> list[str]:
    """Every one-step edit of ``response``: a negative word made positive, a sentence dropped
    (a repeated one first), a doubled word undoubled, or a short neutral sentence added."""
    candidates = []
    for match in re.finditer(r"[A-Za-z]+", response):
        word = match.group(0)
        if word.lower() in POSITIVE_FOR:
            new = POSITIVE_FOR[word.lower()]
            new = new.capitalize() if word[0].isupper() else new
            candidates.append(response[: match.start()] + new + response[match.end() :])
    sentences = _sentences(response)
    for i in range(len(sentences)):
        candidates.append(_join(sentences[:i] + sentences[i + 1 :]))
    undoubled = re.sub(r"\b(\w+) \1\b", r"\1", response, count=1)
    if undoubled != response:
        candidates.append(undoubled)
    candidates.append(_join([*sentences, "I came with a friend."]))
    return [c for c in dict.fromkeys(candidates) if c.strip() and c != response]


@dataclass(frozen=True)
class Annotator:
    """A simulated person who answers in any feedback form (see the module's table).

    Args:
        name: a label for reports.
        utility: the hidden utility ``u(prompt, response)``; default the "mix" labeler's.
        temperature: the noise scale ``T > 0`` of every form.
        bias: added to ``u`` before rating (a lenient annotator > 0, a harsh one < 0).
        thumbs_threshold: the utility at which thumbs up and down are equally likely.
        star_edges: four increasing cut points on the latent utility between 1..5 stars.
        spam_rate: probability of answering uniformly at random, in [0, 1].
    """

    name: str = "annotator"
    utility: UtilityFn = mix_utility
    temperature: float = 0.4
    bias: float = 0.0
    thumbs_threshold: float = -0.1  # near the corpus median utility (-0.11)
    star_edges: tuple[float, ...] = DEFAULT_STAR_EDGES
    spam_rate: float = 0.0
    click_threshold: float = 0.0
    dwell_seconds: float = field(default=20.0, repr=False)

    def __post_init__(self) -> None:
        check_float("temperature", self.temperature, 0.0, low_open=True)
        check_float("bias", self.bias)
        check_probability("spam_rate", self.spam_rate)
        edges = np.asarray(self.star_edges, dtype=np.float64)
        if edges.shape != (4,) or np.any(np.diff(edges) <= 0):
            raise ValueError(f"star_edges must be 4 increasing cut points, got {self.star_edges}")

    # ---------------------------------------------------------------- helpers
    def _spams(self, rng: np.random.Generator) -> bool:
        return self.spam_rate > 0 and rng.random() < self.spam_rate

    def u(self, prompt: str, response: str) -> float:
        """The hidden utility."""
        return float(self.utility(prompt, response))

    # ---------------------------------------------------------------- explicit feedback
    def compare(self, prompt: str, a: str, b: str, rng: np.random.Generator) -> bool:
        """True if ``a`` is preferred over ``b`` (Bradley-Terry)."""
        if self._spams(rng):
            return bool(rng.random() < 0.5)
        gap = (self.u(prompt, a) - self.u(prompt, b)) / self.temperature
        return bool(rng.random() < sigmoid(gap))

    def thumbs(self, prompt: str, response: str, rng: np.random.Generator) -> int:
        """1 (up) or 0 (down): ``P(up) = sigmoid((u + bias - threshold) / T)``."""
        if self._spams(rng):
            return int(rng.random() < 0.5)
        margin = (self.u(prompt, response) + self.bias - self.thumbs_threshold) / self.temperature
        return int(rng.random() < sigmoid(margin))

    def stars(self, prompt: str, response: str, rng: np.random.Generator) -> int:
        """1-5 stars: ``u + bias + T * Logistic`` binned at ``star_edges`` (ordinal logit)."""
        if self._spams(rng):
            return int(rng.integers(1, 6))
        latent = self.u(prompt, response) + self.bias + self.temperature * rng.logistic()
        return int(1 + np.searchsorted(np.asarray(self.star_edges), latent))

    def star_probabilities(self, prompt: str, response: str) -> np.ndarray:
        """``P(stars = 1..5)`` under the ordinal logit model (without spam): (5,)."""
        cdf = sigmoid(
            (np.asarray(self.star_edges) - self.u(prompt, response) - self.bias) / self.temperature
        )
        return np.diff(np.concatenate([[0.0], cdf, [1.0]]))

    def rank(self, prompt: str, responses: Sequence[str], rng: np.random.Generator) -> list[int]:
        """Indices of ``responses`` best first, a Plackett-Luce draw with scores ``u / T``."""
        if len(responses) < 2:
            raise ValueError(f"a ranking needs at least 2 responses, got {len(responses)}")
        if self._spams(rng):
            return [int(i) for i in rng.permutation(len(responses))]
        scores = np.array([self.u(prompt, r) for r in responses]) / self.temperature
        return sample_ranking(scores, rng)

    def comment(self, prompt: str, response: str, rng: np.random.Generator) -> Comment:
        """A critique naming the aspect that costs the most utility (drawn softly, see module)."""
        n_words = len(words(response))
        shortfall = {
            "sentiment": MIX_WEIGHTS["sentiment"] * (1.0 - sentiment_utility(prompt, response)),
            "length": MIX_WEIGHTS["length"] * abs(n_words - TARGET_WORDS) / TARGET_WORDS,
            "repetition": MIX_WEIGHTS["no_repetition"] * repetitions(response),
        }
        aspects = list(shortfall)
        if self._spams(rng):
            aspect = aspects[int(rng.integers(len(aspects)))]
        else:
            logits = np.array([shortfall[a] for a in aspects]) / self.temperature
            p = np.exp(logits - logits.max())
            aspect = aspects[int(rng.choice(len(aspects), p=p / p.sum()))]
        if aspect == "sentiment":
            negative = [s for s in _sentences(response) if set(words(s)) & NEGATIVE_WORDS]
            about = ""
            if negative:  # name the first thing the response is negative about
                nouns = re.findall(r"\bthe (\w+)", negative[0].lower())
                about = f" about the {nouns[0]}" if nouns else ""
            text = f"too negative{about}" if negative else "could be more positive"
            return Comment("sentiment", "more_positive", text)
        if aspect == "length":
            if n_words > TARGET_WORDS:
                return Comment("length", "shorter", "too long")
            return Comment("length", "longer", "too short")
        return Comment("repetition", "less_repetitive", "repeats itself")

    def edit(self, prompt: str, response: str, rng: np.random.Generator) -> str:
        """The one-step edit that raises ``u`` the most; ``response`` unchanged if none does."""
        candidates = edit_candidates(response)
        if not candidates:
            return response
        if self._spams(rng):
            return candidates[int(rng.integers(len(candidates)))]
        gains = np.array([self.u(prompt, c) for c in candidates]) - self.u(prompt, response)
        best = int(np.argmax(gains))
        return candidates[best] if gains[best] > 0 else response

    # ---------------------------------------------------------------- implicit feedback
    def click(self, prompt: str, response: str, rng: np.random.Generator) -> int:
        """1 if a user would click on (engage with) the response: ``sigmoid((u - c) / T)``."""
        margin = (self.u(prompt, response) - self.click_threshold) / self.temperature
        return int(rng.random() < sigmoid(margin))

    def dwell(self, prompt: str, response: str, rng: np.random.Generator) -> float:
        """Seconds spent reading: log-normal around ``dwell_seconds * exp(u)``, spread 0.5."""
        mean_log = math.log(self.dwell_seconds) + self.u(prompt, response)
        return float(np.exp(mean_log + 0.5 * rng.standard_normal()))


def annotator_pool(n_reliable: int = 3, n_unreliable: int = 2, seed: int = 0) -> list[Annotator]:
    """Annotators who disagree: reliable ones with their own bias and noise, and unreliable ones
    who answer at random most of the time (``spam_rate`` 0.6-0.8). Seeded."""
    rng = np.random.default_rng(seed)
    pool = [
        Annotator(
            name=f"reliable-{i}",
            temperature=float(rng.uniform(0.25, 0.5)),
            bias=float(rng.normal(0.0, 0.15)),
        )
        for i in range(n_reliable)
    ]
    pool += [
        Annotator(
            name=f"unreliable-{i}",
            temperature=float(rng.uniform(0.5, 1.0)),
            bias=float(rng.normal(0.0, 0.3)),
            spam_rate=float(rng.uniform(0.6, 0.8)),
        )
        for i in range(n_unreliable)
    ]
    return pool
