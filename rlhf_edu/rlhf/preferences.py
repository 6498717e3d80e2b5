"""Preferences: pairs of responses, the labelers who choose between them, and the Bayes ceiling.

Human feedback for RLHF usually comes as a *pairwise choice*: for a prompt ``x`` and two responses
``a`` and ``b``, a person says which one is better. The Bradley-Terry model explains such choices
with a hidden utility ``u`` and a temperature ``T`` (how noisy the person is):

    P(a preferred over b | x) = sigmoid((u(x, a) - u(x, b)) / T)

In this course the utility is *known*: a synthetic labeler computes it from the text (net
sentiment, length near a target, no repetition, or a weighted mix) and then flips a coin with the
Bradley-Terry probability. That gives something real feedback never does -- the best accuracy any
model could reach on a set of pairs. Predicting the higher-utility response is right with
probability ``sigmoid(|u_a - u_b| / T)``, so

    Bayes-optimal accuracy = mean over pairs of sigmoid(|u_a - u_b| / T)

and a reward model's held-out accuracy can be compared with that ceiling.

Feedback also comes in other forms, each turned into pairs here: 1-5 star ratings
(``ratings_to_pairs``), rankings of k responses (``rankings_to_pairs``), and edits, where the
edited response is preferred over the original (``edits_to_pairs``).

Files: ``write_preferences`` / ``read_preferences`` use JSON Lines, one
``{"prompt": ..., "chosen": ..., "rejected": ...}`` object per line; a malformed line raises
``PreferenceFileError`` naming the file and the line number.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from itertools import combinations
from pathlib import Path

import numpy as np

from rlhf_edu.rlhf.corpus import NEGATIVE_WORDS, POSITIVE_WORDS, sample_prompt, sample_response
from rlhf_edu.utils import check_seed
from rlhf_edu.utils.checkpoint import atomic_write_bytes
from rlhf_edu.utils.validation import check_float, check_int

_FIELDS = ("prompt", "chosen", "rejected")


@dataclass(frozen=True)
class PreferencePair:
    """One judgement: for ``prompt``, the response ``chosen`` was preferred over ``rejected``."""

    prompt: str
    chosen: str
    rejected: str

    def __post_init__(self) -> None:
        for name in _FIELDS:
            value = getattr(self, name)
            if not isinstance(value, str):
                raise TypeError(f"{name} must be a str, got {type(value).__name__}")
        for name in ("chosen", "rejected"):
            if not getattr(self, name).strip():
                raise ValueError(f"{name} must be a non-empty text")
        if self.chosen == self.rejected:
            raise ValueError("chosen and rejected are identical; a pair needs two different texts")

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


class PreferenceFileError(ValueError):
    """A preference file has a malformed line (the message names the file and the line)."""


# ---------------------------------------------------------------------------------------------
# JSONL files
# ---------------------------------------------------------------------------------------------


def _pair_line(pair: PreferencePair) -> str:
    if not isinstance(pair, PreferencePair):
        raise TypeError(f"pairs must hold PreferencePair objects, got {type(pair).__name__}")
    return json.dumps(pair.to_dict(), ensure_ascii=False) + "\n"


def write_preferences(
    pairs: Iterable[PreferencePair], path: str | os.PathLike, append: bool = False
) -> Path:
    """Write pairs as JSON Lines (atomically), or ``append`` them to an existing file."""
    path = Path(path)
    text = "".join(_pair_line(pair) for pair in pairs)
    if not append:
        return atomic_write_bytes(text.encode("utf-8"), path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    return path


def iter_jsonl_objects(
    path: Path, error: type[ValueError], expected: str = "a JSON object"
) -> Iterator[tuple[str, dict]]:
    """``("file:line", object)`` for each non-blank line of a JSON Lines file.

    A line that is not JSON, or not a JSON object, raises ``error("file:line: problem")``;
    ``expected`` says what an object should hold, for that message.
    """
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{line_number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise error(f"{where}: not valid JSON ({err.msg})") from None
            if not isinstance(record, dict):
                raise error(f"{where}: expected {expected}, got {type(record).__name__}")
            yield where, record


def read_preferences(path: str | os.PathLike) -> list[PreferencePair]:
    """Read a JSON Lines preference file; blank lines are skipped.

    Raises:
        FileNotFoundError: no file at ``path``.
        PreferenceFileError: a line is not JSON, lacks a field, has an empty or non-string text,
            or has ``chosen`` identical to ``rejected`` -- the message says ``file:line: problem``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no preference file at {path}")
    pairs = []
    expected = f"a JSON object with fields {', '.join(_FIELDS)}"
    for where, record in iter_jsonl_objects(path, PreferenceFileError, expected):
        missing = [name for name in _FIELDS if name not in record]
        if missing:
            raise PreferenceFileError(f"{where}: missing field(s) {', '.join(missing)}")
        try:
            pairs.append(PreferencePair(*(record[name] for name in _FIELDS)))
        except (TypeError, ValueError) as err:
            raise PreferenceFileError(f"{where}: {err}") from None
    return pairs


# ---------------------------------------------------------------------------------------------
# Utilities a labeler judges
# ---------------------------------------------------------------------------------------------

_WORD = re.compile(r"[a-z]+")
_SENTENCE = re.compile(r"[^.!?]+[.!?]?")
#: The length (in words) the "length" labeler likes best.
TARGET_WORDS = 20


def words(text: str) -> list[str]:
    """Lower-case words of ``text``, punctuation dropped."""
    return _WORD.findall(text.lower())


def sentiment_utility(prompt: str, response: str) -> float:
    """Net sentiment in (-1, 1): (n_positive - n_negative) / (n_positive + n_negative + 1)."""
    tokens = words(response)
    n_pos = sum(w in POSITIVE_WORDS for w in tokens)
    n_neg = sum(w in NEGATIVE_WORDS for w in tokens)
    return (n_pos - n_neg) / (n_pos + n_neg + 1)


def length_utility(prompt: str, response: str) -> float:
    """Closeness to ``TARGET_WORDS`` words: -|n_words - 20| / 20 (0 at best)."""
    return -abs(len(words(response)) - TARGET_WORDS) / TARGET_WORDS


def repetitions(text: str) -> int:
    """Sentences said again (exactly, ignoring case) plus words doubled in a row ("very very")."""
    sentences = [s.strip().lower() for s in _SENTENCE.findall(text) if s.strip()]
    repeated_sentences = len(sentences) - len(set(sentences))
    tokens = words(text)
    doubled_words = sum(a == b for a, b in zip(tokens, tokens[1:]))
    return repeated_sentences + doubled_words


def no_repetition_utility(prompt: str, response: str) -> float:
    """Minus the number of repetitions (0 at best)."""
    return float(-repetitions(response))


#: The weights of the "mix" labeler: what our simulated person cares about, and how much.
MIX_WEIGHTS = {"sentiment": 1.0, "length": 0.25, "no_repetition": 0.1}


def mix_utility(prompt: str, response: str) -> float:
    """1.0 * sentiment + 0.25 * length + 0.1 * no_repetition."""
    return (
        MIX_WEIGHTS["sentiment"] * sentiment_utility(prompt, response)
        + MIX_WEIGHTS["length"] * length_utility(prompt, response)
        + MIX_WEIGHTS["no_repetition"] * no_repetition_utility(prompt, response)
    )


UtilityFn = Callable[[str, str], float]

#: name -> (utility, default temperature, description). The temperatures put the Bayes-optimal
#: accuracy of pairs of corpus responses near 80%: the ceiling is well below 100%.
LABELERS: dict[str, tuple[UtilityFn, float, str]] = {
    "sentiment": (sentiment_utility, 0.35, "prefers the more positive review"),
    "length": (length_utility, 0.15, f"prefers a length near {TARGET_WORDS} words"),
    "no_repetition": (no_repetition_utility, 0.5, "prefers fewer repeated sentences and words"),
    "mix": (mix_utility, 0.4, "1.0 sentiment + 0.25 length + 0.1 no repetition"),
}
DEFAULT_LABELER = "mix"


def sigmoid(x: float | np.ndarray) -> float | np.ndarray:
    """1 / (1 + exp(-x)), computed without overflow."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=np.float64)))


class Labeler:
    """A simulated person: a hidden utility plus Bradley-Terry noise at ``temperature``."""

    def __init__(self, name: str, utility_fn: UtilityFn, temperature: float) -> None:
        self.name = name
        self.utility_fn = utility_fn
        self.temperature = check_float("temperature", temperature, 0.0, None, low_open=True)

    def __repr__(self) -> str:
        return f"Labeler({self.name!r}, temperature={self.temperature})"

    def utility(self, prompt: str, response: str) -> float:
        """The hidden utility u(prompt, response)."""
        return float(self.utility_fn(prompt, response))

    def utilities(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        """u for many (prompt, response) pairs: (n,)."""
        if len(prompts) != len(responses):
            raise ValueError(
                f"prompts and responses must have the same length, got {len(prompts)} and "
                f"{len(responses)}"
            )
        return np.array([self.utility(p, r) for p, r in zip(prompts, responses)], dtype=np.float64)

    def prob_prefers(self, prompt: str, a: str, b: str) -> float:
        """P(a preferred over b) = sigmoid((u_a - u_b) / T)."""
        return float(
            sigmoid((self.utility(prompt, a) - self.utility(prompt, b)) / self.temperature)
        )

    def label(self, prompt: str, a: str, b: str, rng: np.random.Generator) -> PreferencePair:
        """Choose between ``a`` and ``b`` with the Bradley-Terry probability."""
        if rng.random() < self.prob_prefers(prompt, a, b):
            return PreferencePair(prompt, a, b)
        return PreferencePair(prompt, b, a)

    def rate(self, prompt: str, response: str, rng: np.random.Generator) -> int:
        """A noisy 1-5 star rating: the utility plus logistic noise of scale T, binned.

        The bin edges are the utility quintiles of corpus responses, so each star is about
        equally common on the corpus.
        """
        noisy = self.utility(prompt, response) + self.temperature * rng.logistic()
        edges = _rating_edges(self)
        return int(1 + np.searchsorted(edges, noisy))


_EDGES_CACHE: dict[tuple[str, float], np.ndarray] = {}


def _rating_edges(labeler: Labeler) -> np.ndarray:
    key = (labeler.name, labeler.temperature)
    if key not in _EDGES_CACHE:
        rng = np.random.default_rng(12345)
        noisy = []
        for _ in range(2000):
            prompt = sample_prompt(rng)
            noisy.append(
                labeler.utility(prompt, sample_response(prompt, rng))
                + labeler.temperature * rng.logistic()
            )
        _EDGES_CACHE[key] = np.quantile(noisy, [0.2, 0.4, 0.6, 0.8])
    return _EDGES_CACHE[key]


def get_labeler(name: str = DEFAULT_LABELER, temperature: float | None = None) -> Labeler:
    """A synthetic labeler by name (see ``LABELERS``); ``temperature`` None takes its default.

    Raises:
        ValueError: unknown name (the message lists the known ones).
    """
    if name not in LABELERS:
        known = ", ".join(f"{key!r} ({desc})" for key, (_, _, desc) in LABELERS.items())
        raise ValueError(f"unknown labeler {name!r}; known labelers: {known}")
    utility_fn, default_temperature, _ = LABELERS[name]
    return Labeler(name, utility_fn, default_temperature if temperature is None else temperature)


# ---------------------------------------------------------------------------------------------
# The Bayes ceiling
# ---------------------------------------------------------------------------------------------


def bayes_optimal_accuracy(
    utility_gaps: np.ndarray | Sequence[float] | Sequence[PreferencePair],
    temperature: float | Labeler,
) -> float:
    """The best expected pairwise accuracy any predictor can reach against a Bradley-Terry labeler.

    The best prediction is the higher-utility response; it matches the noisy label with
    probability ``sigmoid(|u_a - u_b| / T)``. Averaged over pairs::

        bayes_optimal_accuracy = mean_i sigmoid(|gap_i| / T)

    Args:
        utility_gaps: u_a - u_b for each pair, shape (n,); or a list of PreferencePair, whose gaps
            are computed with the labeler passed as ``temperature``.
        temperature: the labeler's temperature T > 0, or the Labeler itself.
    """
    if isinstance(temperature, Labeler):
        labeler, temperature = temperature, temperature.temperature
    else:
        labeler = None
    items = list(utility_gaps) if not isinstance(utility_gaps, np.ndarray) else utility_gaps
    if len(items) and isinstance(items[0], PreferencePair):
        if labeler is None:
            raise TypeError("with a list of PreferencePair, pass the Labeler (not a temperature)")
        gaps = np.array(
            [
                labeler.utility(p.prompt, p.chosen) - labeler.utility(p.prompt, p.rejected)
                for p in items
            ]
        )
    else:
        gaps = np.asarray(items, dtype=np.float64)
    if gaps.size == 0:
        raise ValueError("utility_gaps is empty; need at least one pair")
    temperature = check_float("temperature", temperature, 0.0, None, low_open=True)
    return float(np.mean(sigmoid(np.abs(gaps) / temperature)))


# ---------------------------------------------------------------------------------------------
# Making pairs: synthetic, and from the other forms feedback takes
# ---------------------------------------------------------------------------------------------


def sample_response_pairs(n: int, seed: int) -> list[tuple[str, str, str]]:
    """``n`` (prompt, response_a, response_b) triples from the corpus grammar, a != b (seeded)."""
    n = check_int("n", n, 0)
    rng = np.random.default_rng(check_seed(seed))
    triples = []
    while len(triples) < n:
        prompt = sample_prompt(rng)
        a, b = sample_response(prompt, rng), sample_response(prompt, rng)
        if a != b:
            triples.append((prompt, a, b))
    return triples


def make_synthetic_pairs(labeler: Labeler | str, n_pairs: int, seed: int) -> list[PreferencePair]:
    """``n_pairs`` pairs of corpus responses to the same prompt, labeled by ``labeler`` (seeded).

    The responses come from the grammar the tiny LM imitates, standing in for samples of the
    reference policy (the same distribution, without the cost of generating them).
    """
    if isinstance(labeler, str):
        labeler = get_labeler(labeler)
    rng = np.random.default_rng(check_seed(seed) + 1)
    return [labeler.label(p, a, b, rng) for p, a, b in sample_response_pairs(n_pairs, seed)]


def ratings_to_pairs(
    prompts: Sequence[str], responses: Sequence[str], stars: Sequence[int]
) -> list[PreferencePair]:
    """Turn 1-5 star ratings into pairs: for two responses to the same prompt, the one with more
    stars is chosen; ties give no pair. Pairs come in input order (i < j)."""
    if not len(prompts) == len(responses) == len(stars):
        raise ValueError(
            f"prompts, responses and stars must have the same length, got {len(prompts)}, "
            f"{len(responses)} and {len(stars)}"
        )
    for s in stars:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or not 1 <= s <= 5:
            raise ValueError(f"stars must be ints in [1, 5], got {s!r}")
    pairs = []
    for i, j in combinations(range(len(prompts)), 2):
        if prompts[i] != prompts[j] or stars[i] == stars[j] or responses[i] == responses[j]:
            continue
        best, worst = (i, j) if stars[i] > stars[j] else (j, i)
        pairs.append(PreferencePair(prompts[i], responses[best], responses[worst]))
    return pairs


def rankings_to_pairs(prompt: str, ranked_responses: Sequence[str]) -> list[PreferencePair]:
    """A ranking of k responses (best first) gives k(k-1)/2 pairs: each over every one below it."""
    if len(ranked_responses) < 2:
        raise ValueError(f"a ranking needs at least 2 responses, got {len(ranked_responses)}")
    if len(set(ranked_responses)) != len(ranked_responses):
        raise ValueError("ranked_responses has duplicates; rank distinct responses")
    return [
        PreferencePair(prompt, ranked_responses[i], ranked_responses[j])
        for i, j in combinations(range(len(ranked_responses)), 2)
    ]


def edits_to_pairs(
    prompts: Sequence[str], originals: Sequence[str], edited: Sequence[str]
) -> list[PreferencePair]:
    """An edit says the edited response is better than the original; unchanged ones give no pair."""
    if not len(prompts) == len(originals) == len(edited):
        raise ValueError(
            f"prompts, originals and edited must have the same length, got {len(prompts)}, "
            f"{len(originals)} and {len(edited)}"
        )
    return [
        PreferencePair(p, e, o)
        for p, o, e in zip(prompts, originals, edited)
        if e.strip() != o.strip()
    ]
