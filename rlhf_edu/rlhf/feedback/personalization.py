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
group's own Bayes ceiling (:func:`group_ceiling`, :func:`per_group_accuracy`).

Why the single model fails the minority: Bradley-Terry on the pooled labels fits the *mixed*
preference probability ``P(a > b) = sum_g pi_g sigmoid((u_g(a) - u_g(b)) / T)``, and to first
order in the gaps its optimum is the population-weighted mixture of utilities,
``r*(y) = sum_g pi_g u_g(y) / T + const`` (:func:`single_rm_optimum` checks it numerically; it
is Siththaranjan et al. 2023's "hidden context": the model aggregates users like a Borda count
and cannot tell that two groups disagree).

Steering (:func:`steer_best_of_n`): best-of-n for user ``i`` keeps, of n sampled responses, the
one with the highest ``r(y, i)``. The features ``phi(y)`` are computed from the text of any
response, sampled from the tiny GPT-2 as well as drawn from the corpus grammar, because every
group's utility is a function of the same words, length and repetitions that ``phi`` counts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from rlhf_edu.rlhf.feedback.annotators import Annotator
from rlhf_edu.rlhf.feedback.reward_models import features_of
from rlhf_edu.rlhf.preferences import mix_utility, sample_response_pairs, sentiment_utility, words
from rlhf_edu.utils.validation import check_float, check_int

__all__ = [
    "ConditionedRewardModel",
    "LabelledPairs",
    "Population",
    "conditioned_bt_step",
    "conditioned_reward",
    "critic_utility",
    "default_population",
    "fit_conditioned_reward_model",
    "group_ceiling",
    "label_pairs",
    "per_group_accuracy",
    "single_rm_optimum",
    "steer_best_of_n",
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


def conditioned_reward(
    phi: torch.Tensor,
    user: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    deviation: torch.Tensor,
) -> torch.Tensor:
    """``r(y, i) = (w + d_i) . phi(y) + b``: the user-conditioned reward.

    phi: (batch, F) features; user: (batch,) long user ids; weight ``w``: (F,); bias ``b``: a
    scalar; deviation: (n_users, F), row ``i`` is ``d_i``. Returns (batch,). Selecting row
    ``d_i`` is the same as multiplying a one-hot user vector by the deviation table:
    ``d_i = onehot(i) @ D``; with ``D = 0`` every user gets the single model ``w . phi + b``.
    """
    if phi.ndim != 2 or user.shape != phi.shape[:1]:
        raise ValueError(
            f"phi must be (batch, F) and user (batch,), got {tuple(phi.shape)} and "
            f"{tuple(user.shape)}"
        )
    return phi @ weight + bias + (deviation[user.long()] * phi).sum(-1)


class ConditionedRewardModel(nn.Module):
    """``r(y, user) = (w + d_user) . phi(y) + b``: shared weights plus a per-user deviation.

    Parameters ``weight`` (F,), ``bias`` () and ``deviation`` (n_users, F), all starting at 0
    (the Bradley-Terry loss of a linear reward is convex: the start does not matter). ``reward``
    computes the reward from them (default :func:`conditioned_reward`; notebook 13 passes the
    student's).
    """

    def __init__(
        self,
        n_features: int,
        n_users: int,
        reward: Callable[..., torch.Tensor] | None = None,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(n_features))
        self.bias = nn.Parameter(torch.zeros(()))
        self.deviation = nn.Parameter(torch.zeros(n_users, n_features))
        self.reward = conditioned_reward if reward is None else reward

    def params(self) -> dict[str, torch.Tensor]:
        """``{"weight", "bias", "deviation"}``: the tensors a training step updates in place."""
        return {"weight": self.weight, "bias": self.bias, "deviation": self.deviation}

    def forward(self, phi: torch.Tensor, user: torch.Tensor) -> torch.Tensor:
        """phi: (batch, F), user: (batch,) long -> rewards (batch,)."""
        return self.reward(phi, user, self.weight, self.bias, self.deviation)


def conditioned_bt_step(
    params: dict[str, torch.Tensor],
    optimizer: torch.optim.Optimizer,
    phi: torch.Tensor,
    user: torch.Tensor,
) -> float:
    """One full-batch Bradley-Terry step on the conditioned reward; returns the loss before it.

    params: ``{"weight": (F,), "bias": (), "deviation": (n_users, F)}``, the tensors
    ``optimizer`` updates; phi: (n, 2, F), the chosen response first; user: (n,) the id of the
    user who labelled each pair. Loss ``-mean_k log sigmoid(r(y_w^k, i_k) - r(y_l^k, i_k))``
    with :func:`conditioned_reward`, each pair scored *for its own labeller* ``i_k`` (the whole
    point of conditioning).
    """
    optimizer.zero_grad(set_to_none=True)
    weight, bias, deviation = params["weight"], params["bias"], params["deviation"]
    margin = conditioned_reward(phi[:, 0], user, weight, bias, deviation) - conditioned_reward(
        phi[:, 1], user, weight, bias, deviation
    )  # (n,)
    loss = -torch.nn.functional.logsigmoid(margin).mean()
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def fit_conditioned_reward_model(
    phi: torch.Tensor,
    user: torch.Tensor,
    n_users: int,
    seed: int = 0,
    epochs: int = 300,
    learning_rate: float = 0.05,
    weight_decay: float = 1e-3,
    deviation_decay: float = 1e-4,
    reward: Callable[..., torch.Tensor] | None = None,
    step: Callable[..., float] | None = None,
) -> ConditionedRewardModel:
    """Bradley-Terry on pairs ``phi`` (n, 2, F), chosen first, each labelled by ``user`` (n,).

    Full-batch Adam; the shared weights get ``weight_decay``, the per-user deviations
    ``deviation_decay`` (how strongly a user's taste is shrunk toward everyone's). ``reward``
    replaces :func:`conditioned_reward` as the model's forward, ``step`` replaces
    :func:`conditioned_bt_step` (notebook 13 trains with the student's). Seeded.
    """
    if phi.ndim != 3 or phi.shape[1] != 2:
        raise ValueError(f"phi must be (n_pairs, 2, n_features), got {tuple(phi.shape)}")
    if user.shape != (phi.shape[0],):
        raise ValueError(f"user must be (n_pairs,) = ({phi.shape[0]},), got {tuple(user.shape)}")
    n_users = check_int("n_users", n_users)
    if user.numel() and (int(user.min()) < 0 or int(user.max()) >= n_users):
        raise ValueError(f"user ids must be in 0..{n_users - 1}")
    torch.manual_seed(check_int("seed", seed, low=0))
    model = ConditionedRewardModel(phi.shape[-1], n_users, reward=reward)
    optimizer = torch.optim.Adam(
        [
            {"params": [model.weight, model.bias], "weight_decay": weight_decay},
            {"params": [model.deviation], "weight_decay": deviation_decay},
        ],
        lr=check_float("learning_rate", learning_rate, 0.0, low_open=True),
    )
    step_fn = conditioned_bt_step if step is None else step
    params, user = model.params(), user.long()
    with torch.enable_grad():
        for _ in range(check_int("epochs", epochs)):
            step_fn(params, optimizer, phi, user)
    model.eval()
    return model


def group_ceiling(population: Population, group: str, gaps: np.ndarray) -> float:
    """Bayes-optimal pairwise accuracy against a member of ``group``: mean sigmoid(|gap| / T).

    gaps: (n,) the group's utility differences ``u_g(a) - u_g(b)`` of held-out pairs. A model
    that knew ``u_g`` exactly would pick the better response and be right with the
    Bradley-Terry probability ``sigmoid(|gap| / T)``; no model can do better on average.
    """
    temperature = population.users[population.members(group)[0]].temperature
    return float(np.mean(1.0 / (1.0 + np.exp(-np.abs(gaps) / temperature))))


def per_group_accuracy(
    margins: torch.Tensor | np.ndarray, labels: np.ndarray, groups: Sequence[str]
) -> dict[str, float]:
    """Pairwise accuracy within each group: ``mean over the group's pairs of [(m > 0) == label]``.

    margins: (n,) ``r(a) - r(b)`` as the model scores pair ``k`` for its labeller; labels: (n,)
    True where the labeller chose ``a``; groups: n group names (the labeller's group). A tie
    (``m = 0``) predicts ``b``. Returns ``{group: accuracy}`` in order of first appearance.
    """
    margins = np.asarray(torch.as_tensor(margins).detach(), dtype=float)
    labels = np.asarray(labels, dtype=bool)
    groups = np.asarray(list(groups))
    if not (margins.shape == labels.shape == groups.shape) or margins.ndim != 1:
        raise ValueError(
            f"margins, labels and groups must be (n,) alike, got {margins.shape}, "
            f"{labels.shape} and {groups.shape}"
        )
    correct = (margins > 0) == labels
    return {str(g): float(correct[groups == g].mean()) for g in dict.fromkeys(groups.tolist())}


@dataclass(frozen=True)
class LabelledPairs:
    """Pairs of responses each labelled by one user: ``phi_a``, ``phi_b`` (n, F), ``a_chosen``
    (n,) bool, ``users`` (n,) long, ``gaps`` (n,) the labeller's ``u(a) - u(b)``."""

    phi_a: torch.Tensor
    phi_b: torch.Tensor
    a_chosen: np.ndarray
    users: torch.Tensor
    gaps: np.ndarray

    def chosen_first(self) -> torch.Tensor:
        """(n, 2, F): the chosen response's features first, as Bradley-Terry training wants."""
        first = torch.as_tensor(self.a_chosen)[:, None]
        return torch.stack(
            [
                torch.where(first, self.phi_a, self.phi_b),
                torch.where(first, self.phi_b, self.phi_a),
            ],
            dim=1,
        )


def label_pairs(population: Population, users: Sequence[int], seed: int) -> LabelledPairs:
    """One pair of corpus responses per entry of ``users``, labelled by that user (seeded)."""
    users = [int(u) for u in users]
    if any(u < 0 or u >= len(population.users) for u in users):
        raise ValueError(f"users must be ids in 0..{len(population.users) - 1}")
    seed = check_int("seed", seed, low=0)
    rng = np.random.default_rng(seed + 1)
    triples = sample_response_pairs(len(users), seed)
    a_chosen, gaps = [], []
    for (prompt, a, b), uid in zip(triples, users):
        user = population.users[uid]
        a_chosen.append(user.compare(prompt, a, b, rng))
        gaps.append(user.u(prompt, a) - user.u(prompt, b))
    n_features = features_of("", [""]).shape[-1]
    empty = torch.zeros(0, n_features)
    return LabelledPairs(
        phi_a=torch.cat([features_of(p, [a]) for p, a, _ in triples]) if users else empty,
        phi_b=torch.cat([features_of(p, [b]) for p, _, b in triples]) if users else empty,
        a_chosen=np.array(a_chosen, dtype=bool),
        users=torch.tensor(users, dtype=torch.long),
        gaps=np.array(gaps, dtype=float),
    )


def single_rm_optimum(
    utilities: np.ndarray,
    shares: np.ndarray,
    temperature: float,
    n_steps: int = 2000,
    learning_rate: float = 2.0,
) -> tuple[np.ndarray, np.ndarray]:
    """The single reward model's optimum on a population, and the utility mixture beside it.

    utilities: (G, K), group ``g``'s utility of each of K responses; shares: (G,) ``pi_g``.
    Every ordered pair (i, j) is labelled by a random user, so ``i`` wins with the mixed
    probability ``P_ij = sum_g pi_g sigmoid((u_gi - u_gj) / T)``. The single model's expected
    Bradley-Terry loss ``-mean_{i != j} P_ij log sigmoid(r_i - r_j)`` has the gradient
    ``dL/dr_i ∝ sum_j (sigmoid(r_i - r_j) - P_ij)``; gradient descent from ``r = 0`` gives
    ``r*``. Returns ``(r*, mixture)``, both (K,) and centred to mean 0, with
    ``mixture = sum_g pi_g u_g / T``: equal to first order in the gaps
    (``sigmoid(x) ≈ 1/2 + x/4``).
    """
    utilities = np.asarray(utilities, dtype=float)
    shares = np.asarray(shares, dtype=float)
    if utilities.ndim != 2 or shares.shape != utilities.shape[:1]:
        raise ValueError(
            f"utilities must be (G, K) and shares (G,), got {utilities.shape} and {shares.shape}"
        )
    if np.any(shares < 0) or not np.isclose(shares.sum(), 1.0):
        raise ValueError("shares must be non-negative and sum to 1")
    temperature = check_float("temperature", temperature, 0.0, low_open=True)

    def sigmoid(x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-x))

    gaps = (utilities[:, :, None] - utilities[:, None, :]) / temperature  # (G, K, K)
    mixed = np.einsum("g,gij->ij", shares, sigmoid(gaps))  # P_ij, (K, K)
    r = np.zeros(utilities.shape[1])
    for _ in range(check_int("n_steps", n_steps)):
        r -= learning_rate * (sigmoid(r[:, None] - r[None, :]) - mixed).mean(axis=1)
    mixture = shares @ utilities / temperature
    return r - r.mean(), mixture - mixture.mean()


def steer_best_of_n(
    candidate_phi: torch.Tensor,
    user: int,
    reward: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """Best-of-n for one user: the index of each prompt's best candidate by ``r(y, user)``.

    candidate_phi: (P, n, F), the features of n sampled responses to each of P prompts;
    user: the user's id; reward: ``reward(phi (m, F), users (m,) long) -> (m,)`` (a
    ``ConditionedRewardModel``, or a single model wrapped to ignore the user). Returns (P,) long;
    the first candidate wins a tie.
    """
    if candidate_phi.ndim != 3:
        raise ValueError(f"candidate_phi must be (P, n, F), got {tuple(candidate_phi.shape)}")
    n_prompts, n, n_features = candidate_phi.shape
    flat = candidate_phi.reshape(n_prompts * n, n_features)
    with torch.no_grad():
        scores = reward(flat, torch.full((n_prompts * n,), int(user), dtype=torch.long))
    return torch.as_tensor(scores).reshape(n_prompts, n).argmax(dim=1)
