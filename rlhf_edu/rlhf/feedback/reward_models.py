"""Reward models from every form of feedback: one scoring function, one likelihood per form.

A reward model here is linear in fixed text features, ``r(x) = w . phi(x) + b`` (``phi``: word
frequencies over the corpus grammar's vocabulary, the length and its square, and the repetition
counts; see :func:`response_features`). It is small on purpose: every form can be trained in a
second on the CPU, so the forms can be compared on many label budgets and seeds. What differs
between forms is only the likelihood of an answer given ``r``, each the noise model the
annotators of :mod:`rlhf_edu.rlhf.feedback.annotators` really use:

==========  =====================================================================================
form        negative log-likelihood (mean over answers)
==========  =====================================================================================
pairs       Bradley-Terry: ``-log sigmoid(r(y_w) - r(y_l))``
edits       the same, with (edited, original) as (y_w, y_l)
rankings    Plackett-Luce: ``sum_i [log sum_{j>=i} exp r(y_pi_j) - r(y_pi_i)]`` (k = 2: pairs)
thumbs      logistic classification: ``P(up) = sigmoid(r(y) - c)``, the threshold ``c`` learned
stars       ordinal (cumulative) logit: ``P(stars <= k) = sigmoid(theta_k - r(y))``, with learned
            increasing cut points ``theta_1 < ... < theta_4``
comments    which aspect is named: ``P(aspect a) = softmax_a(d_a(y))`` over per-aspect
            shortfalls ``d_a(y) = softplus(w_a . phi(y))``; the reward is ``-sum_a d_a(y)``
==========  =====================================================================================

Only pairs, edits and rankings say directly which of two responses is better; thumbs and stars
say it through a threshold, and a comment says only what is *most* wrong with one response,
which pins down the differences between its aspects' shortfalls but not their total: from
comments alone a reward is identified only up to a per-response shift. Each model is scored the
same way, by its pairwise accuracy on held-out pairs ordered by the true utility
(:func:`pairwise_accuracy`; 1.0 is a perfect model, 0.5 a coin), or on held-out pairs labelled
by a fresh annotator, against that annotator's Bayes ceiling (:class:`HeldOutPairs`).

Every loss is a part that can be replaced (:class:`FeedbackLosses`): a notebook passes its own
``ordinal_logit_loss`` or ``plackett_luce_loss`` to :func:`fit_feedback_reward_model`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rlhf_edu.rlhf.feedback.annotators import ASPECTS, Annotator
from rlhf_edu.rlhf.feedback.rankings import plackett_luce_loss
from rlhf_edu.rlhf.preferences import (
    TARGET_WORDS,
    PreferencePair,
    repetitions,
    sample_response_pairs,
    sigmoid,
    words,
)
from rlhf_edu.utils.validation import check_float, check_int

__all__ = [
    "FORMS",
    "FeedbackData",
    "FeedbackLosses",
    "FeedbackRewardModel",
    "HeldOutPairs",
    "collect_edits",
    "collect_feedback",
    "comment_loss",
    "edits_to_pairs",
    "feedback_from_pairs",
    "fit_feedback_reward_model",
    "ordinal_logit_loss",
    "pairwise_accuracy",
    "response_features",
    "soft_pair_loss",
    "thumbs_loss",
]

#: The feedback forms a reward model can be trained from.
FORMS = ("pairs", "edits", "rankings", "thumbs", "stars", "comments")
ASPECT_NAMES = tuple(ASPECTS)  # ("sentiment", "length", "repetition")
N_STARS = 5


@functools.lru_cache(maxsize=1)
def feature_vocabulary() -> tuple[str, ...]:
    """The words of the corpus grammar (2,000 documents, seed 0), sorted: the bag of words."""
    from rlhf_edu.rlhf.corpus import sample_documents

    return tuple(sorted({w for _, response in sample_documents(2000, 0) for w in words(response)}))


def response_features(prompt: str, response: str) -> np.ndarray:
    """``phi(y)``: each vocabulary word's share of the response's words, then ``n / 20``,
    ``(n / 20)^2`` for ``n`` words, and the number of repetitions. Shape (len(vocabulary) + 3,).
    """
    vocabulary = feature_vocabulary()
    index = {w: i for i, w in enumerate(vocabulary)}
    tokens = words(response)
    counts = np.zeros(len(vocabulary) + 3)
    for token in tokens:
        if token in index:
            counts[index[token]] += 1.0
    counts[: len(vocabulary)] /= max(len(tokens), 1)
    length = len(tokens) / TARGET_WORDS
    counts[len(vocabulary) :] = (length, length**2, float(repetitions(response)))
    return counts


def features_of(prompt: str, responses: Sequence[str]) -> torch.Tensor:
    """``phi`` of several responses to one prompt: a float tensor (len(responses), F)."""
    return torch.as_tensor(
        np.stack([response_features(prompt, r) for r in responses]), dtype=torch.float32
    )


class FeedbackRewardModel(nn.Module):
    """``r(y) = w . phi(y) + b`` plus the extra parameters each form's likelihood needs.

    ``thumbs_threshold`` is ``c`` of the thumbs model; ``star_gaps`` give the star cut points as
    ``theta_1 = star_gaps[0]``, ``theta_k = theta_1 + sum softplus(star_gaps[1:k])`` (increasing
    by construction); ``aspect_head`` maps ``phi`` to the three aspects' shortfall logits.
    """

    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.score = nn.Linear(n_features, 1)
        self.thumbs_threshold = nn.Parameter(torch.zeros(()))
        self.star_gaps = nn.Parameter(torch.tensor([-1.5, 0.0, 0.0, 0.0]))
        self.aspect_head = nn.Linear(n_features, len(ASPECT_NAMES))
        self.uses_aspects = False  # a comments model scores with -sum of its shortfalls

    def star_cutpoints(self) -> torch.Tensor:
        """``theta_1 < theta_2 < theta_3 < theta_4``: (4,)."""
        gaps = torch.cat([self.star_gaps[:1], F.softplus(self.star_gaps[1:])])
        return torch.cumsum(gaps, dim=0)

    def shortfalls(self, phi: torch.Tensor) -> torch.Tensor:
        """``d_a(y) >= 0`` per aspect: (batch, 3)."""
        return F.softplus(self.aspect_head(phi))

    def forward(self, phi: torch.Tensor) -> torch.Tensor:
        """The reward of each response: (batch, F) -> (batch,)."""
        if self.uses_aspects:
            return -self.shortfalls(phi).sum(dim=-1)
        return self.score(phi).squeeze(-1)


def thumbs_loss(
    rewards: torch.Tensor, thumbs: torch.Tensor, threshold: torch.Tensor
) -> torch.Tensor:
    """Mean ``-log P(thumb)`` with ``P(up) = sigmoid(r - c)``: binary cross-entropy.

    rewards: (batch,) float; thumbs: (batch,) of 0 (down) or 1 (up); threshold: ``c``, a scalar.
    """
    if rewards.shape != thumbs.shape:
        raise ValueError(
            f"rewards {tuple(rewards.shape)} and thumbs {tuple(thumbs.shape)} must match"
        )
    return F.binary_cross_entropy_with_logits(rewards - threshold, thumbs.float())


def ordinal_logit_loss(
    rewards: torch.Tensor, stars: torch.Tensor, cutpoints: torch.Tensor
) -> torch.Tensor:
    """Mean ``-log P(stars)`` under the cumulative logit model.

    ``P(stars <= k) = sigmoid(theta_k - r)`` for k = 1..4 (and 1 for k = 5), so
    ``P(stars = k) = P(stars <= k) - P(stars <= k - 1)``. rewards: (batch,); stars: (batch,)
    long in 1..5; cutpoints: (4,) increasing.
    """
    if stars.shape != rewards.shape:
        raise ValueError(
            f"rewards {tuple(rewards.shape)} and stars {tuple(stars.shape)} must match"
        )
    if stars.numel() and (int(stars.min()) < 1 or int(stars.max()) > N_STARS):
        raise ValueError(f"stars must be in 1..{N_STARS}, got {stars.min()}..{stars.max()}")
    cdf = torch.sigmoid(cutpoints[None, :] - rewards[:, None])  # (batch, 4)
    ones, zeros = torch.ones_like(rewards)[:, None], torch.zeros_like(rewards)[:, None]
    cdf = torch.cat([zeros, cdf, ones], dim=1)  # (batch, 6): P(stars <= 0..5)
    k = stars.long()[:, None]
    p = cdf.gather(1, k) - cdf.gather(1, k - 1)
    return -torch.log(p.clamp_min(1e-12)).mean()


def soft_pair_loss(margins: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Bradley-Terry with a soft target: mean ``-[q log sigmoid(m) + (1 - q) log sigmoid(-m)]``.

    margins: (batch,) ``r(y_1) - r(y_2)``; q: (batch,) the probability, e.g. the share of
    annotators or the Dawid-Skene posterior, that ``y_1`` is the better response. ``q = 1`` is the
    hard Bradley-Terry loss.
    """
    if margins.shape != q.shape:
        raise ValueError(f"margins {tuple(margins.shape)} and q {tuple(q.shape)} must match")
    q = q.to(margins.dtype)
    if q.numel() and (float(q.min()) < 0.0 or float(q.max()) > 1.0):
        raise ValueError("q must be probabilities in [0, 1]")
    return F.binary_cross_entropy_with_logits(margins, q)


def comment_loss(shortfalls: torch.Tensor, aspects: torch.Tensor) -> torch.Tensor:
    """Mean ``-log softmax(d)[named aspect]``: cross-entropy of the aspect a comment names.

    shortfalls: (batch, 3) ``d_a(y)``; aspects: (batch,) long indices into ``ASPECT_NAMES``.
    """
    if shortfalls.ndim != 2 or shortfalls.shape[0] != aspects.shape[0]:
        raise ValueError(
            f"shortfalls must be (batch, {len(ASPECT_NAMES)}) and aspects (batch,), got "
            f"{tuple(shortfalls.shape)} and {tuple(aspects.shape)}"
        )
    return F.cross_entropy(shortfalls, aspects.long())


def edits_to_pairs(
    prompts: Sequence[str], originals: Sequence[str], edited: Sequence[str]
) -> list[PreferencePair]:
    """Edits as preference pairs: the edited response is chosen over the one it was edited from.

    An edit that left the response as it was (equal after stripping surrounding whitespace) says
    nothing about which is better and gives no pair. Pairs come in input order.
    """
    if not len(prompts) == len(originals) == len(edited):
        raise ValueError(
            f"prompts, originals and edited must have the same length, got {len(prompts)}, "
            f"{len(originals)} and {len(edited)}"
        )
    return [
        PreferencePair(prompt, new, old)
        for prompt, old, new in zip(prompts, originals, edited)
        if new.strip() != old.strip()
    ]


def collect_edits(
    annotator: Annotator, n_answers: int, seed: int
) -> tuple[list[str], list[str], list[str]]:
    """``(prompts, originals, edited)``: ``n_answers`` corpus responses and the annotator's edit
    of each (the response itself where no one-step edit improves it). Seeded; the same draws as
    ``collect_feedback("edits", ...)``."""
    from rlhf_edu.rlhf.corpus import sample_prompt, sample_response

    n_answers = check_int("n_answers", n_answers)
    rng = np.random.default_rng(check_int("seed", seed, low=0))
    prompts, originals, edited = [], [], []
    for _ in range(n_answers):
        prompt = sample_prompt(rng)
        response = sample_response(prompt, rng)
        prompts.append(prompt)
        originals.append(response)
        edited.append(annotator.edit(prompt, response, rng))
    return prompts, originals, edited


@dataclass(frozen=True)
class FeedbackData:
    """One form's answers as tensors: ``phi`` (n, k, F) of the responses each answer is about
    (k = 2 for pairs and edits, chosen first; k for rankings, in the ranked order, best first;
    k = 1 for thumbs, stars and comments) and ``labels`` (n,) for the pointwise forms; for pairs,
    optional ``labels`` are the probability that the first response is the better one (soft
    labels from several annotators), and without them the first is the chosen one."""

    form: str
    phi: torch.Tensor
    labels: torch.Tensor | None = None


def feedback_from_pairs(pairs: Sequence[PreferencePair], form: str = "pairs") -> FeedbackData:
    """Preference pairs (from comparisons, edits or rankings) as training data: ``phi`` of
    (chosen, rejected), (n, 2, F)."""
    if form not in ("pairs", "edits"):
        raise ValueError(f"form must be 'pairs' or 'edits', got {form!r}")
    if not pairs:
        raise ValueError("pairs is empty: there is nothing to train on")
    return FeedbackData(
        form, torch.stack([features_of(p.prompt, [p.chosen, p.rejected]) for p in pairs])
    )


def collect_feedback(
    form: str, annotator: Annotator, n_answers: int, seed: int, k: int = 4
) -> FeedbackData:
    """``n_answers`` answers of ``annotator`` in one form, on responses from the corpus grammar.

    pairs: two responses to one prompt, compared; edits: one response and the annotator's edit
    of it (an unchanged response gives no pair and is skipped, so fewer answers may come back);
    rankings: ``k`` responses to one prompt, ranked; thumbs, stars, comments: one response each.
    Seeded: the same arguments give the same answers.
    """
    from rlhf_edu.rlhf.corpus import sample_prompt, sample_response

    if form not in FORMS:
        raise ValueError(f"form must be one of {', '.join(FORMS)}, got {form!r}")
    n_answers = check_int("n_answers", n_answers)
    k = check_int("k", k, low=2)
    rng = np.random.default_rng(check_int("seed", seed, low=0))
    rows: list[torch.Tensor] = []
    labels: list[int] = []
    for _ in range(n_answers):
        prompt = sample_prompt(rng)
        n_responses = {"pairs": 2, "rankings": k}.get(form, 1)
        responses = [sample_response(prompt, rng) for _ in range(n_responses)]
        if form == "pairs":
            a, b = responses
            chosen = annotator.compare(prompt, a, b, rng)
            rows.append(features_of(prompt, [a, b] if chosen else [b, a]))
        elif form == "rankings":
            order = annotator.rank(prompt, responses, rng)
            rows.append(features_of(prompt, [responses[i] for i in order]))
        elif form == "edits":  # the same draws as collect_edits, turned into pairs
            edited = annotator.edit(prompt, responses[0], rng)
            for pair in edits_to_pairs([prompt], responses, [edited]):
                rows.append(features_of(prompt, [pair.chosen, pair.rejected]))
        else:
            rows.append(features_of(prompt, responses))
            if form == "thumbs":
                labels.append(annotator.thumbs(prompt, responses[0], rng))
            elif form == "stars":
                labels.append(annotator.stars(prompt, responses[0], rng))
            else:
                comment = annotator.comment(prompt, responses[0], rng)
                labels.append(ASPECT_NAMES.index(comment.aspect))
    if not rows:
        raise ValueError(f"no {form} answers were collected (every edit left its response as is)")
    return FeedbackData(
        form, torch.stack(rows), torch.tensor(labels, dtype=torch.long) if labels else None
    )


@dataclass(frozen=True)
class FeedbackLosses:
    """The likelihood of each form, each this module's function unless replaced:
    ``fit_feedback_reward_model(data, losses=FeedbackLosses(plackett_luce_loss=my_loss))``.
    Every field takes a function with the reference's signature."""

    thumbs_loss: Callable[..., torch.Tensor] = thumbs_loss
    ordinal_logit_loss: Callable[..., torch.Tensor] = ordinal_logit_loss
    plackett_luce_loss: Callable[..., torch.Tensor] = plackett_luce_loss
    comment_loss: Callable[..., torch.Tensor] = comment_loss
    soft_pair_loss: Callable[..., torch.Tensor] = soft_pair_loss

    def __post_init__(self) -> None:
        for f in fields(self):
            if not callable(getattr(self, f.name)):
                raise TypeError(f"FeedbackLosses.{f.name} must be a function")


def _loss(model: FeedbackRewardModel, data: FeedbackData, losses: FeedbackLosses) -> torch.Tensor:
    n, k, n_features = data.phi.shape
    if data.form == "comments":
        return losses.comment_loss(model.shortfalls(data.phi[:, 0]), data.labels)
    rewards = model(data.phi.reshape(n * k, n_features)).reshape(n, k)
    if data.form == "pairs" and data.labels is not None:  # soft labels q = P(first is better)
        return losses.soft_pair_loss(rewards[:, 0] - rewards[:, 1], data.labels)
    if data.form in ("pairs", "edits", "rankings"):  # best first: the ranking is 0, 1, ..., k-1
        order = torch.arange(k).expand(n, k)
        return losses.plackett_luce_loss(rewards, order)
    if data.form == "thumbs":
        return losses.thumbs_loss(rewards[:, 0], data.labels, model.thumbs_threshold)
    return losses.ordinal_logit_loss(rewards[:, 0], data.labels, model.star_cutpoints())


def fit_feedback_reward_model(
    data: FeedbackData,
    seed: int = 0,
    epochs: int = 300,
    learning_rate: float = 0.05,
    weight_decay: float = 1e-3,
    losses: FeedbackLosses | None = None,
) -> FeedbackRewardModel:
    """Fit a reward model to one form's answers: full-batch Adam on the form's likelihood
    (plus ``weight_decay`` on the weights, which keeps separable data finite). ``losses``
    replaces the likelihoods (default: this module's). Seeded."""
    if data.form not in FORMS:
        raise ValueError(f"form must be one of {', '.join(FORMS)}, got {data.form!r}")
    if data.phi.ndim != 3 or data.phi.shape[0] < 1:
        raise ValueError(
            f"phi must be (n_answers >= 1, k, n_features), got {tuple(data.phi.shape)}"
        )
    if data.form in ("thumbs", "stars", "comments") and data.labels is None:
        raise ValueError(f"{data.form} needs labels (one per answer)")
    epochs = check_int("epochs", epochs)
    learning_rate = check_float("learning_rate", learning_rate, 0.0, low_open=True)
    weight_decay = check_float("weight_decay", weight_decay, 0.0)
    losses = FeedbackLosses() if losses is None else losses
    if not isinstance(losses, FeedbackLosses):
        raise TypeError(f"losses must be a FeedbackLosses, got {type(losses).__name__}")
    torch.manual_seed(check_int("seed", seed, low=0))
    model = FeedbackRewardModel(data.phi.shape[-1])
    model.uses_aspects = data.form == "comments"
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    with torch.enable_grad():  # also when called under torch.no_grad()
        for _ in range(epochs):
            optimizer.zero_grad(set_to_none=True)
            loss = _loss(model, data, losses)
            loss.backward()
            optimizer.step()
    model.eval()
    return model


def pairwise_accuracy(
    model: FeedbackRewardModel,
    prompts: Sequence[str],
    a: Sequence[str],
    b: Sequence[str],
    a_better: np.ndarray,
) -> float:
    """Share of held-out pairs ``(a_i, b_i)`` where ``r(a_i) > r(b_i)`` agrees with ``a_better``
    (from the true utility). Ties count as half right."""
    with torch.no_grad():
        r_a = np.array([float(model(features_of(p, [x]))[0]) for p, x in zip(prompts, a)])
        r_b = np.array([float(model(features_of(p, [y]))[0]) for p, y in zip(prompts, b)])
    a_better = np.asarray(a_better, dtype=bool)
    right = np.where(r_a == r_b, 0.5, (r_a > r_b) == a_better)
    return float(np.mean(right))


class HeldOutPairs:
    """``n`` held-out pairs of corpus responses, labelled by a fresh ``annotator``: the test set
    of every reward model of the module.

    ``accuracy(model)`` is the share of the annotator's (noisy) labels that ``r(a) > r(b)``
    agrees with; its ceiling ``bayes`` is what the true utility itself scores,
    ``mean sigmoid(|u_a - u_b| / T)`` (module 09). ``true_accuracy(model)`` scores against the
    true order instead (ceiling 1), and ``correlation(model)`` is the Pearson correlation of
    ``r`` with the true utility over the ``2n`` responses. Seeded: pairs from ``10_000 + seed``,
    labels from ``20_000 + seed``.
    """

    def __init__(self, annotator: Annotator, n: int, seed: int) -> None:
        triples = sample_response_pairs(check_int("n", n), seed=10_000 + seed)
        rng = np.random.default_rng(20_000 + seed)
        self.phi_a = torch.cat([features_of(p, [a]) for p, a, _ in triples])  # (n, F)
        self.phi_b = torch.cat([features_of(p, [b]) for p, _, b in triples])  # (n, F)
        self.labels = np.array([annotator.compare(p, a, b, rng) for p, a, b in triples])
        self.u_a = np.array([annotator.u(p, a) for p, a, _ in triples])
        self.u_b = np.array([annotator.u(p, b) for p, _, b in triples])
        gaps = self.u_a - self.u_b
        self.true_order = gaps > 0
        self.bayes = float(np.mean(sigmoid(np.abs(gaps) / annotator.temperature)))

    def _prefers_a(self, model: nn.Module) -> np.ndarray:
        with torch.no_grad():
            return (model(self.phi_a) > model(self.phi_b)).numpy()

    def accuracy(self, model: nn.Module) -> float:
        """Agreement of ``r(a) > r(b)`` with the annotator's noisy held-out labels."""
        return float(np.mean(self._prefers_a(model) == self.labels))

    def true_accuracy(self, model: nn.Module) -> float:
        """Agreement of ``r(a) > r(b)`` with the true utility's order."""
        return float(np.mean(self._prefers_a(model) == self.true_order))

    def correlation(self, model: nn.Module) -> float:
        """Pearson correlation of ``r`` with the true utility over the held-out responses."""
        with torch.no_grad():
            r = torch.cat([model(self.phi_a), model(self.phi_b)]).numpy().astype(np.float64)
        u = np.concatenate([self.u_a, self.u_b])
        if np.std(r) == 0.0:
            return 0.0  # a constant reward says nothing about the utility
        return float(np.corrcoef(r, u)[0, 1])
