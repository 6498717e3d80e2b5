"""``rlhf-edu experiment personalization``: what one reward model for everyone costs a minority.

A population of ten users (eight of the "mix" majority, two critics; see
:mod:`rlhf_edu.rlhf.feedback.personalization`) each label ``N_PER_USER`` pairs. Three reward
models learn from the same labels: one for everyone, one conditioned on the user (shared weights
plus a shrunk per-user deviation), and one per user. Each is scored per group on held-out pairs
that members of the group label, against the group's own Bayes ceiling. Then each model steers
the tiny GPT-2 for every user by best-of-``N_CANDIDATES`` over its samples, and we measure the
group's true utility of what it picked (beside the unsteered policy, ``base``, and the best
sample by the group's own utility, ``best``).

Writes ``results.json`` (``groups``, ``single_rm``, ``conditioned_rm``, ``per_user_rm``,
``ceiling``, ``steering``, and the per-seed numbers) and plots. Deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlhf_edu.rlhf.best_of_n import best_of_n
from rlhf_edu.rlhf.corpus import sample_prompts
from rlhf_edu.rlhf.feedback.personalization import (
    default_population,
    fit_conditioned_reward_model,
    group_ceiling,
    label_pairs,
    per_group_accuracy,
    steer_best_of_n,
)
from rlhf_edu.rlhf.feedback.reward_models import (
    FeedbackData,
    features_of,
    fit_feedback_reward_model,
)
from rlhf_edu.rlhf.lm import load_tiny_lm
from rlhf_edu.utils.progress import progress

N_PER_USER = 60
N_HELD_OUT = 300  # held-out pairs per group
N_PROMPTS, N_CANDIDATES, MAX_NEW_TOKENS = 64, 8, 48
MODELS = ("single_rm", "conditioned_rm", "per_user_rm")
STEERING = ("base", *MODELS, "best")

Scorer = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def fit_population_models(seed: int, models: tuple[str, ...] = MODELS) -> dict[str, Scorer]:
    """The reward models named in ``models`` (default all three), each as ``score(phi (m, F),
    users (m,)) -> (m,)``, fitted to ``N_PER_USER`` pairs labelled by each user of the default
    population."""
    unknown = set(models) - set(MODELS)
    if unknown:
        raise ValueError(f"models must be among {', '.join(MODELS)}, got {sorted(unknown)}")
    population = default_population()
    n_users = len(population.users)
    train = label_pairs(population, np.repeat(np.arange(n_users), N_PER_USER), seed=1000 * seed)
    phi = train.chosen_first()
    scorers: dict[str, Scorer] = {}
    if "single_rm" in models:
        single = fit_feedback_reward_model(FeedbackData("pairs", phi), seed=seed)
        scorers["single_rm"] = lambda phi_y, users: single(phi_y)
    if "conditioned_rm" in models:
        scorers["conditioned_rm"] = fit_conditioned_reward_model(
            phi, train.users, n_users, seed=seed
        )
    if "per_user_rm" not in models:
        return scorers
    per_user = [
        fit_feedback_reward_model(FeedbackData("pairs", phi[train.users == uid]), seed=seed)
        for uid in range(n_users)
    ]

    def per_user_score(phi_y: torch.Tensor, users: torch.Tensor) -> torch.Tensor:
        scores = torch.empty(len(users))
        for uid in users.unique().tolist():
            scores[users == uid] = per_user[uid](phi_y[users == uid])
        return scores

    scorers["per_user_rm"] = per_user_score
    return scorers


def held_out_accuracy(scorers: dict[str, Scorer], seed: int) -> dict[str, dict[str, float]]:
    """Per-group accuracy of each model on ``N_HELD_OUT`` pairs per group, each labelled by a
    random member of the group, and each group's ceiling on the same pairs."""
    population = default_population()
    rng = np.random.default_rng(90_000 + seed)
    users = np.concatenate(
        [rng.choice(population.members(g), N_HELD_OUT) for g in population.group_names]
    )
    test = label_pairs(population, users, seed=90_000 + 10 * seed)
    groups = [population.groups[u] for u in users]
    accuracy: dict[str, dict[str, float]] = {}
    with torch.no_grad():
        for name, score in scorers.items():
            margins = score(test.phi_a, test.users) - score(test.phi_b, test.users)
            accuracy[name] = per_group_accuracy(margins, test.a_chosen, groups)
    accuracy["ceiling"] = {
        g: group_ceiling(population, g, test.gaps[np.array(groups) == g])
        for g in population.group_names
    }
    return accuracy


def steering_utility(
    scorers: dict[str, Scorer], policy, tokenizer, seed: int
) -> dict[str, dict[str, float]]:
    """Best-of-``N_CANDIDATES`` on the tiny GPT-2 for every user, picked by each model.

    One set of samples per seed (``N_PROMPTS`` prompts, ``N_CANDIDATES`` each); for each
    group, the mean over its members and the prompts of the group's true utility of the pick.
    ``base``: the mean utility of all samples (the policy without steering); ``best``: the
    candidate with the group's highest true utility (best-of-n with a perfect reward model).
    """
    population = default_population()
    prompts = sample_prompts(N_PROMPTS, seed=96_000 + seed)
    first = next(iter(scorers.values()))

    def reward(batch_prompts: list[str], responses: list[str]) -> torch.Tensor:
        # the first model's score for user 0; the samples depend only on the seed, and every
        # model picks among the same candidates below
        with torch.no_grad():
            return first(features_of("", responses), torch.zeros(len(responses), dtype=torch.long))

    sampled = best_of_n(policy, tokenizer, prompts, reward, N_CANDIDATES, MAX_NEW_TOKENS, seed=seed)
    candidate_phi = torch.stack([features_of(p, c) for p, c in zip(prompts, sampled.candidates)])
    steering: dict[str, dict[str, float]] = {
        name: {} for name in STEERING if name in scorers or name in ("base", "best")
    }
    rows = np.arange(N_PROMPTS)
    for group in population.group_names:
        members = population.members(group)
        user = population.users[members[0]]
        utility = np.array(
            [[user.u(p, c) for c in cands] for p, cands in zip(prompts, sampled.candidates)]
        )  # (P, n): every member of a group has the group's utility
        steering["base"][group] = float(utility.mean())
        steering["best"][group] = float(utility.max(axis=1).mean())
        for name, score in scorers.items():
            picked = [
                utility[rows, steer_best_of_n(candidate_phi, uid, score).numpy()] for uid in members
            ]
            steering[name][group] = float(np.mean(picked))
    return steering


def one_seed(seed: int, policy=None, tokenizer=None) -> dict[str, Any]:
    """Accuracy and steering for one seed (the tiny GPT-2 is loaded when not given)."""
    if policy is None or tokenizer is None:
        policy, tokenizer = load_tiny_lm()
    scorers = fit_population_models(seed)
    return {
        "accuracy": held_out_accuracy(scorers, seed),
        "steering": steering_utility(scorers, policy, tokenizer, seed),
    }


def run_personalization_study(seeds: list[int]) -> dict[str, Any]:
    population = default_population()
    policy, tokenizer = load_tiny_lm()
    per_seed = [
        one_seed(seed, policy, tokenizer) for seed in progress(seeds, desc="personalization: seeds")
    ]
    groups = population.group_names

    def mean_over_seeds(key: str, name: str) -> dict[str, float]:
        return {g: round(float(np.mean([s[key][name][g] for s in per_seed])), 6) for g in groups}

    results: dict[str, Any] = {
        "experiment": "personalization",
        "seeds": list(seeds),
        "groups": population.shares(),
        "labels_per_user": N_PER_USER,
    }
    for name in (*MODELS, "ceiling"):
        results[name] = mean_over_seeds("accuracy", name)
    results["steering"] = {name: mean_over_seeds("steering", name) for name in STEERING}
    results["per_seed"] = per_seed
    return results


def plot_personalization_study(results: dict[str, Any], out: Path) -> list[Path]:
    import matplotlib.pyplot as plt  # noqa: I001

    from rlhf_edu.viz.figures import save_figure  # first: it picks a backend without a screen

    groups = list(results["groups"])
    x = np.arange(len(groups))
    colours = dict(zip((*STEERING, "ceiling"), plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.2
    for i, name in enumerate((*MODELS, "ceiling")):
        values = [results[name][g] for g in groups]
        axes[0].bar(x + (i - 1.5) * width, values, width, label=name, color=colours[name])
    axes[0].axhline(0.5, color="grey", linewidth=0.5, linestyle="--")  # a coin
    axes[0].set_xticks(x, [f"{g} ({results['groups'][g]:.0%})" for g in groups])
    axes[0].set_ylim(0.2, 1.0)
    axes[0].set_ylabel("held-out pairwise accuracy")
    axes[0].set_title("each group's own labels")
    axes[0].legend(fontsize=8)
    steering = results["steering"]
    names = list(steering)
    for i, name in enumerate(names):
        axes[1].bar(
            x + (i - (len(names) - 1) / 2) * 0.15,
            [steering[name][g] for g in groups],
            0.15,
            label=name,
            color=colours.get(name),
        )
    axes[1].set_xticks(x, groups)
    axes[1].axhline(0.0, color="black", linewidth=0.5)
    axes[1].set_ylabel("the group's true utility of the pick")
    axes[1].set_title(f"best-of-{N_CANDIDATES} on the tiny GPT-2, steered per user")
    axes[1].legend(fontsize=8)
    fig.suptitle(f"One reward model for everyone vs per user ({len(results['seeds'])} seeds)")
    fig.tight_layout()
    path = save_figure(fig, out / "personalization.png")
    plt.close(fig)
    return [path]
