"""Feedback on a classifier: learning from "right" / "wrong" against learning from labels.

The task: say which place a review is about (8 topics of the corpus grammar: pizza place, sushi
bar, hotel, ...), from its words. A person can help in two ways:

- **supervised**: they give the right label (cross-entropy on it);
- **evaluative**: the classifier shows its guess ``a ~ pi(.|x)`` and the person says whether it
  is right, ``r = 1`` or ``0`` (a contextual bandit). The policy gradient with a baseline,
  REINFORCE as in module 06 with one step per episode,

      loss = -mean_i (r_i - b) * log pi(a_i | x_i),     b = the mean reward so far,

  learns from that one bit, but only about the guessed class: a "wrong" says which label it is
  not, out of seven others.

Each answer is wrong with probability ``flip_prob`` (a careless click): a supervised answer is
then a random other label, an evaluative one the opposite bit. ``mixed`` spends a few answers on
labels (a supervised start) and the rest on right/wrong. Accuracy and macro-F1 on held-out
reviews against the number of answers show what evaluative feedback costs.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rlhf_edu.rlhf.corpus import TOPICS, sample_documents, topic_of
from rlhf_edu.rlhf.feedback.reward_models import feature_vocabulary, features_of
from rlhf_edu.utils.validation import check_float, check_int, check_probability

__all__ = [
    "N_TOPICS",
    "macro_f1",
    "noisy_labels",
    "review_topics",
    "train_bandit",
    "train_mixed",
    "train_supervised",
]

TOPIC_NAMES = tuple(TOPICS)
N_TOPICS = len(TOPIC_NAMES)


def review_topics(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` corpus reviews and their topic indices (n,): the features (n, V) say which of the
    V vocabulary words each review uses (0 or 1; a bag of words). Seeded."""
    documents = sample_documents(check_int("n", n), seed)
    n_words = len(feature_vocabulary())
    shares = torch.cat([features_of(prompt, [response]) for prompt, response in documents])
    phi = (shares[:, :n_words] > 0).float()  # which vocabulary words the review uses
    labels = torch.tensor([TOPIC_NAMES.index(topic_of(prompt)) for prompt, _ in documents])
    return phi, labels


def noisy_labels(
    truth: torch.Tensor, flip_prob: float, rng: np.random.Generator, n_classes: int = N_TOPICS
) -> torch.Tensor:
    """Each label replaced, with probability ``flip_prob``, by a uniformly drawn *other* class."""
    flip_prob = check_probability("flip_prob", flip_prob)
    flips = torch.as_tensor(rng.random(len(truth)) < flip_prob)
    other = (truth + torch.as_tensor(rng.integers(1, n_classes, len(truth)))) % n_classes
    return torch.where(flips, other, truth)


def _linear(n_features: int, seed: int) -> nn.Linear:
    torch.manual_seed(check_int("seed", seed, low=0))
    return nn.Linear(n_features, N_TOPICS)


def train_supervised(
    phi: torch.Tensor,
    labels: torch.Tensor,
    seed: int = 0,
    epochs: int = 200,
    learning_rate: float = 0.1,
    model: nn.Linear | None = None,
) -> nn.Linear:
    """Softmax regression on labelled reviews: full-batch Adam on the cross-entropy."""
    model = _linear(phi.shape[-1], seed) if model is None else model
    optimizer = torch.optim.Adam(
        model.parameters(), lr=check_float("learning_rate", learning_rate, 0.0, low_open=True)
    )
    with torch.enable_grad():
        for _ in range(check_int("epochs", epochs)):
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(model(phi), labels).backward()
            optimizer.step()
    return model


def train_bandit(
    phi: torch.Tensor,
    truth: torch.Tensor,
    flip_prob: float,
    seed: int = 0,
    batch_size: int = 10,
    learning_rate: float = 0.1,
    model: nn.Linear | None = None,
    rng: np.random.Generator | None = None,
) -> nn.Linear:
    """Learn from right/wrong only: one pass, one answer per review, in minibatches.

    For each minibatch: sample guesses ``a ~ softmax(model(x))``, get the person's noisy bit
    ``r`` (right = 1), and take one Adam step on ``-mean((r - b) log pi(a|x))`` with ``b`` the
    mean reward of all earlier answers (0.5 before any). ``truth`` is used only to simulate the
    person's answer. Seeded.
    """
    flip_prob = check_probability("flip_prob", flip_prob)
    batch_size = check_int("batch_size", batch_size)
    model = _linear(phi.shape[-1], seed) if model is None else model
    rng = np.random.default_rng(seed) if rng is None else rng
    optimizer = torch.optim.Adam(
        model.parameters(), lr=check_float("learning_rate", learning_rate, 0.0, low_open=True)
    )
    total_reward, n_answers = 0.0, 0
    with torch.enable_grad():
        for start in range(0, len(phi), batch_size):
            x, y = phi[start : start + batch_size], truth[start : start + batch_size]
            logits = model(x)
            with torch.no_grad():
                probs = torch.softmax(logits, dim=-1).numpy().astype(np.float64)
            guesses = torch.as_tensor(
                [rng.choice(N_TOPICS, p=p / p.sum()) for p in probs], dtype=torch.long
            )
            right = (guesses == y).numpy()
            said_right = np.where(rng.random(len(right)) < flip_prob, ~right, right)
            rewards = torch.as_tensor(said_right, dtype=torch.float32)
            baseline = total_reward / n_answers if n_answers else 0.5
            logprob = torch.log_softmax(logits, dim=-1).gather(1, guesses[:, None]).squeeze(1)
            loss = -((rewards - baseline) * logprob).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total_reward += float(rewards.sum())
            n_answers += len(rewards)
    return model


def train_mixed(
    phi: torch.Tensor,
    truth: torch.Tensor,
    n_labels: int,
    flip_prob: float,
    seed: int = 0,
) -> nn.Linear:
    """The first ``n_labels`` reviews labelled (supervised start), the rest right/wrong."""
    n_labels = check_int("n_labels", n_labels)
    rng = np.random.default_rng(seed)
    labels = noisy_labels(truth[:n_labels], flip_prob, rng)
    model = train_supervised(phi[:n_labels], labels, seed=seed)
    return train_bandit(phi[n_labels:], truth[n_labels:], flip_prob, seed, model=model, rng=rng)


def macro_f1(predicted: torch.Tensor, truth: torch.Tensor, n_classes: int = N_TOPICS) -> float:
    """The mean over classes of F1 = 2 TP / (2 TP + FP + FN) (a class never predicted nor
    present counts as 1)."""
    scores = []
    for c in range(n_classes):
        tp = int(((predicted == c) & (truth == c)).sum())
        fp = int(((predicted == c) & (truth != c)).sum())
        fn = int(((predicted != c) & (truth == c)).sum())
        scores.append(1.0 if tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores))
