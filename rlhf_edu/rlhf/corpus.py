"""A small world of text the course builds itself: short reviews from a probabilistic grammar.

No data set can be downloaded here, so the RLHF track generates its own corpus. Each document is
a *prompt* (``"Review of the pizza place:"``) followed by a *response* (one to seven short
sentences). The grammar draws, for every review,

- a topic (the place in the prompt) whose nouns the sentences talk about,
- an overall sentiment (positive, negative or mixed) that tilts each sentence's wording,
- a length (number of sentences), and
- sometimes a repetition (a sentence said twice, or "very very").

Those are exactly the properties a labeler in :mod:`rlhf_edu.rlhf.preferences` judges, so the
"true human utility" of any text is known. The tiny GPT-2 of :mod:`rlhf_edu.rlhf.lm` is
pretrained on this corpus and becomes the reference policy of the later notebooks.

Conventions: a response starts with a space (``" The crust was great."``) so that
``prompt + response`` is the full document and tokenizes as the prompt's tokens followed by the
response's tokens.
"""

from __future__ import annotations

import re

import numpy as np

from rlhf_edu.utils import check_seed
from rlhf_edu.utils.validation import check_int

#: The places a review can be about, each with the nouns its sentences use.
TOPICS: dict[str, tuple[str, ...]] = {
    "pizza place": ("crust", "sauce", "cheese", "pizza", "oven"),
    "sushi bar": ("fish", "rice", "chef", "roll", "soup"),
    "coffee shop": ("coffee", "latte", "barista", "pastry", "music"),
    "hotel": ("room", "bed", "pool", "lobby", "breakfast"),
    "bakery": ("bread", "cake", "croissant", "baker", "counter"),
    "gym": ("trainer", "equipment", "class", "shower", "schedule"),
    "movie theater": ("screen", "popcorn", "seat", "sound", "film"),
    "bookstore": ("shelf", "owner", "selection", "corner", "novel"),
}
#: Nouns every review may use, whatever the place.
GENERIC_NOUNS: tuple[str, ...] = ("staff", "service", "place", "price", "wait")
#: Openings of a prompt; ``{topic}`` is one of ``TOPICS``.
PROMPT_TEMPLATES: tuple[str, ...] = (
    "Review of the {topic}:",
    "My visit to the {topic}:",
    "Thoughts on the {topic}:",
)

#: The sentiment lexicon the labelers count (lower case, punctuation stripped).
POSITIVE_WORDS: frozenset[str] = frozenset(
    "great good delicious friendly clean wonderful excellent lovely fresh amazing cozy perfect "
    "loved liked enjoyed recommended happily".split()
)
NEGATIVE_WORDS: frozenset[str] = frozenset(
    "bad awful rude dirty terrible cold stale slow boring horrible noisy bland "
    "hated disliked disappointing sadly avoid".split()
)

_POS_ADJ = ("great", "good", "delicious", "friendly", "clean", "wonderful", "excellent", "lovely",
            "fresh", "amazing", "cozy", "perfect")  # fmt: skip
_NEG_ADJ = ("bad", "awful", "rude", "dirty", "terrible", "cold", "stale", "slow", "boring",
            "horrible", "noisy", "bland")  # fmt: skip
_NEUTRAL_ADJ = ("okay", "fine", "average", "small", "quiet", "busy")
_ADVERBS = ("", "", "very ", "really ", "quite ", "so ")
_POS_VERBS = ("loved", "liked", "enjoyed")
_NEG_VERBS = ("hated", "disliked")
_POS_CLOSINGS = ("Highly recommended.", "We will happily return.", "I enjoyed every minute.")
_NEG_CLOSINGS = ("Sadly disappointing.", "Avoid this place.", "I will never return.")
_NEUTRAL_SENTENCES = (
    "We went on a {day}.",
    "We ordered the {noun}.",
    "It was {neutral} that {day}.",
    "The {noun} was {neutral}.",
    "I came with a friend.",
    "We sat near the {noun}.",
)
_DAYS = ("Monday", "Friday", "Sunday", "weekend", "rainy day")

#: Probability that a review's sentences are positive, by the review's overall sentiment.
_P_POSITIVE_SENTENCE = {"positive": 0.9, "mixed": 0.5, "negative": 0.1}
#: Number of sentences in a response: 1..7, most often 3-4.
_N_SENTENCES = np.arange(1, 8)
_P_N_SENTENCES = np.array([0.08, 0.14, 0.22, 0.22, 0.16, 0.11, 0.07])
#: Probability that a review contains a repetition.
P_REPETITION = 0.15


def _choice(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def _check_count(n: object, name: str = "n") -> int:
    return check_int(name, n, 0)


def topic_of(prompt: str) -> str:
    """The topic (a key of ``TOPICS``) a prompt is about; raises ValueError if none matches."""
    for topic in TOPICS:
        if prompt.rstrip().endswith(f"the {topic}:"):
            return topic
    raise ValueError(
        f"prompt {prompt!r} is not one of the corpus prompts; expected one of the forms "
        f"{', '.join(t.format(topic='<topic>') for t in PROMPT_TEMPLATES)} with a topic in "
        f"{', '.join(TOPICS)}"
    )


def sample_prompt(rng: np.random.Generator) -> str:
    """One prompt such as ``"Review of the hotel:"``."""
    topic = _choice(rng, tuple(TOPICS))
    return _choice(rng, PROMPT_TEMPLATES).format(topic=topic)


def _sentence(rng: np.random.Generator, topic: str, positive: bool | None) -> str:
    """One sentence; ``positive`` None means a neutral sentence."""
    nouns = TOPICS[topic] + GENERIC_NOUNS
    noun = _choice(rng, nouns)
    if positive is None:
        template = _choice(rng, _NEUTRAL_SENTENCES)
        return template.format(
            noun=noun, day=_choice(rng, _DAYS), neutral=_choice(rng, _NEUTRAL_ADJ)
        )
    adjectives = _POS_ADJ if positive else _NEG_ADJ
    kind = rng.random()
    if kind < 0.6:
        return f"The {noun} was {_choice(rng, _ADVERBS)}{_choice(rng, adjectives)}."
    if kind < 0.85:
        verb = _choice(rng, _POS_VERBS if positive else _NEG_VERBS)
        return f"I {verb} the {noun}."
    return _choice(rng, _POS_CLOSINGS if positive else _NEG_CLOSINGS)


def sample_response(prompt: str, rng: np.random.Generator) -> str:
    """A response to ``prompt`` drawn from the grammar (starts with a space, no end token)."""
    topic = topic_of(prompt)
    sentiment = _choice(rng, ("positive", "mixed", "negative"))
    p_positive = _P_POSITIVE_SENTENCE[sentiment]
    n_sentences = int(rng.choice(_N_SENTENCES, p=_P_N_SENTENCES))
    sentences: list[str] = []
    for _ in range(n_sentences):
        if rng.random() < 0.3:
            sentences.append(_sentence(rng, topic, None))
        else:
            sentences.append(_sentence(rng, topic, bool(rng.random() < p_positive)))
    if rng.random() < P_REPETITION:
        if rng.random() < 0.7 or all(" was " not in s for s in sentences):
            # say one sentence again (right away or at the end)
            i = int(rng.integers(len(sentences)))
            where = i + 1 if rng.random() < 0.5 else len(sentences)
            for _ in range(int(rng.integers(1, 3))):
                sentences.insert(where, sentences[i])
        else:
            # stutter an intensifier: "was very very good"
            i = next(k for k, s in enumerate(sentences) if " was " in s)
            sentences[i] = re.sub(
                r" was (very |really |quite |so )?", " was very very ", sentences[i], count=1
            )
    return " " + " ".join(sentences)


def sample_prompts(n: int, seed: int) -> list[str]:
    """``n`` prompts the policy continues, e.g. ``"Review of the pizza place:"`` (seeded)."""
    n = _check_count(n)
    rng = np.random.default_rng(check_seed(seed))
    return [sample_prompt(rng) for _ in range(n)]


def sample_documents(n: int, seed: int) -> list[tuple[str, str]]:
    """``n`` (prompt, response) pairs from the grammar (seeded)."""
    n = _check_count(n)
    rng = np.random.default_rng(check_seed(seed))
    documents = []
    for _ in range(n):
        prompt = sample_prompt(rng)
        documents.append((prompt, sample_response(prompt, rng)))
    return documents


def generate_corpus(n: int, seed: int) -> list[str]:
    """``n`` documents ``prompt + response`` from the grammar, e.g.

    ``"Review of the hotel: The room was very clean. I loved the pool. Highly recommended."``
    """
    return [prompt + response for prompt, response in sample_documents(n, seed)]
