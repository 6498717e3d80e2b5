"""Different people want different things: one reward model averages them away.

Users belong to groups with different utilities. The course's default population: a
``majority`` (the "mix" labeler: positive, about 20 words, no repetition) and a ``minority`` of
critics, who want short reviews that say what was wrong:

    u_critic(y) = -sentiment(y) - 0.25 * |n_words(y) - 8| / 8

Three reward models from the same pairs, each labelled by one user:

- **single**: ``r(y) = w . phi(y) + b``, one model for everyone (what a plain RLHF pipeline
  trains); it learns the majority's taste, and the minority is scored by it too;
- **conditioned**: ``r(y, user) = (w + d_user) . phi(y) + b``: shared weights plus a per-user
  deviation ``d_user`` with its own weight decay, which shrinks every user toward the shared
  taste: a user with few labels borrows from everyone, and a user who disagrees must pay the
  decay to move away (with ``deviation_decay=1e-2`` instead of the default ``1e-4`` the critics
  are scored almost as badly as by the single model: the prior decides who is heard);
- **per user**: one independent model per user, trained only on that user's labels.

Each is scored per group on held-out pairs labelled by members of that group, against that
group's own Bayes ceiling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from rlhf_edu.rlhf.feedback.annotators import Annotator
from rlhf_edu.rlhf.preferences import mix_utility, sentiment_utility, words
from rlhf_edu.utils.validation import check_float, check_int

__all__ = [
    "ConditionedRewardModel",
    "Population",
    "critic_utility",
    "default_population",
    "fit_conditioned_reward_model",
    "group_ceiling",
]

CRITIC_TARGET_WORDS = 8


def critic_utility(prompt: str, response: str) -> float:
    """The minority's utility: ``-sentiment - 0.25 * |n_words - 8| / 8`` (short and critical)."""
    n_words = len(words(response))
    return (
        -sentiment_utility(prompt, response)
        - 0.25 * abs(n_words - CRITIC_TARGET_WORDS) / CRITIC_TARGET_WORDS
    )


@dataclass(frozen=True)
class Population:
    """Users, each an ``Annotator`` of one group: ``users[i]`` is in group ``groups[i]``."""

    users: tuple[Annotator, ...]
    groups: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.users) != len(self.groups) or not self.users:
            raise ValueError("a population needs at least one user, with one group per user")

    @property
    def group_names(self) -> list[str]:
        """Groups in order of first appearance."""
        return list(dict.fromkeys(self.groups))

    def shares(self) -> dict[str, float]:
        """Each group's share of the users."""
        return {g: self.groups.count(g) / len(self.groups) for g in self.group_names}

    def members(self, group: str) -> list[int]:
        """Indices of the users in ``group``."""
        if group not in self.groups:
            raise ValueError(f"no group {group!r}; groups: {', '.join(self.group_names)}")
        return [i for i, g in enumerate(self.groups) if g == group]


def default_population(n_users: int = 10, minority_share: float = 0.2) -> Population:
    """``n_users`` users: a majority with the "mix" utility and ``minority_share`` critics
    (``critic_utility``), all with the same noise (temperature 0.4)."""
    n_users = check_int("n_users", n_users, low=2)
    minority_share = check_float("minority_share", minority_share, 0.0, 0.5, low_open=True)
    n_minority = max(1, round(n_users * minority_share))
    groups = ("majority",) * (n_users - n_minority) + ("minority",) * n_minority
    utility = {"majority": mix_utility, "minority": critic_utility}
    users = tuple(
        Annotator(name=f"{group}-{i}", utility=utility[group], temperature=0.4)
        for i, group in enumerate(groups)
    )
    return Population(users, groups)


class ConditionedRewardModel(nn.Module):
    """``r(y, user) = (w + d_user) . phi(y) + b``: shared weights plus a per-user deviation."""

    def __init__(self, n_features: int, n_users: int) -> None:
        super().__init__()
        self.shared = nn.Linear(n_features, 1)
        self.deviation = nn.Embedding(n_users, n_features)
        nn.init.zeros_(self.deviation.weight)

    def forward(self, phi: torch.Tensor, user: torch.Tensor) -> torch.Tensor:
        """phi: (batch, F), user: (batch,) long -> rewards (batch,)."""
        return self.shared(phi).squeeze(-1) + (self.deviation(user) * phi).sum(-1)


def fit_conditioned_reward_model(
    phi: torch.Tensor,
    user: torch.Tensor,
    n_users: int,
    seed: int = 0,
    epochs: int = 300,
    learning_rate: float = 0.05,
    weight_decay: float = 1e-3,
    deviation_decay: float = 1e-4,
) -> ConditionedRewardModel:
    """Bradley-Terry on pairs ``phi`` (n, 2, F), chosen first, each labelled by ``user`` (n,).

    Full-batch Adam; the shared weights get ``weight_decay``, the per-user deviations
    ``deviation_decay`` (how strongly a user's taste is shrunk toward everyone's). Seeded.
    """
    if phi.ndim != 3 or phi.shape[1] != 2:
        raise ValueError(f"phi must be (n_pairs, 2, n_features), got {tuple(phi.shape)}")
    if user.shape != (phi.shape[0],):
        raise ValueError(f"user must be (n_pairs,) = ({phi.shape[0]},), got {tuple(user.shape)}")
    n_users = check_int("n_users", n_users)
    if user.numel() and (int(user.min()) < 0 or int(user.max()) >= n_users):
        raise ValueError(f"user ids must be in 0..{n_users - 1}")
    torch.manual_seed(check_int("seed", seed, low=0))
    model = ConditionedRewardModel(phi.shape[-1], n_users)
    optimizer = torch.optim.Adam(
        [
            {"params": model.shared.parameters(), "weight_decay": weight_decay},
            {"params": model.deviation.parameters(), "weight_decay": deviation_decay},
        ],
        lr=check_float("learning_rate", learning_rate, 0.0, low_open=True),
    )
    user = user.long()
    with torch.enable_grad():
        for _ in range(check_int("epochs", epochs)):
            optimizer.zero_grad(set_to_none=True)
            margin = model(phi[:, 0], user) - model(phi[:, 1], user)
            loss = -torch.nn.functional.logsigmoid(margin).mean()
            loss.backward()
            optimizer.step()
    model.eval()
    return model


def group_ceiling(population: Population, group: str, gaps: np.ndarray) -> float:
    """Bayes-optimal pairwise accuracy against a member of ``group``: mean sigmoid(|gap| / T)."""
    temperature = population.users[population.members(group)[0]].temperature
    return float(np.mean(1.0 / (1.0 + np.exp(-np.abs(gaps) / temperature))))
