"""``rlhf-edu experiment personalization``: what one reward model for everyone costs a minority.

A population of ten users (eight of the "mix" majority, two critics; see
:mod:`rlhf_edu.rlhf.feedback.personalization`) each label ``N_PER_USER`` pairs. Three reward
models learn from the same labels: one for everyone, one conditioned on the user (shared weights
plus a shrunk per-user deviation), and one per user. Each is scored per group on held-out pairs
that members of the group label, against the group's own Bayes ceiling. Then each model steers
generation for a member of each group by best-of-``N_CANDIDATES`` over corpus responses, and we
measure the group's true utility of what it picked (beside a random pick and the best possible).

Writes ``results.json`` (``groups``, ``single_rm``, ``conditioned_rm``, ``per_user_rm``,
``ceiling``, ``steering``, and the per-seed numbers) and plots. Deterministic.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlhf_edu.rlhf.corpus import sample_prompts, sample_response
from rlhf_edu.rlhf.feedback.personalization import (
    default_population,
    fit_conditioned_reward_model,
    group_ceiling,
)
from rlhf_edu.rlhf.feedback.reward_models import (
    FeedbackData,
    features_of,
    fit_feedback_reward_model,
)
from rlhf_edu.rlhf.preferences import sample_response_pairs
from rlhf_edu.utils.progress import progress

N_PER_USER = 60
N_HELD_OUT = 300
N_PROMPTS, N_CANDIDATES = 100, 8
MODELS = ("single_rm", "conditioned_rm", "per_user_rm")


def one_seed(seed: int) -> dict[str, Any]:
    population = default_population()
    n_users = len(population.users)
    rng = np.random.default_rng(seed)
    rows, user_ids = [], []
    for uid, user in enumerate(population.users):
        for prompt, a, b in sample_response_pairs(N_PER_USER, seed=1000 * seed + uid):
            chosen_first = user.compare(prompt, a, b, rng)
            rows.append(features_of(prompt, [a, b] if chosen_first else [b, a]))
            user_ids.append(uid)
    phi, users = torch.stack(rows), torch.tensor(user_ids)
    single = fit_feedback_reward_model(FeedbackData("pairs", phi), seed=seed)
    conditioned = fit_conditioned_reward_model(phi, users, n_users, seed=seed)
    per_user = [
        fit_feedback_reward_model(FeedbackData("pairs", phi[users == uid]), seed=seed)
        for uid in range(n_users)
    ]

    def score(model: str, phi_y: torch.Tensor, uid: int) -> torch.Tensor:
        with torch.no_grad():
            if model == "single_rm":
                return single(phi_y)
            if model == "conditioned_rm":
                return conditioned(phi_y, torch.full((phi_y.shape[0],), uid))
            return per_user[uid](phi_y)

    accuracy: dict[str, dict[str, float]] = {m: {} for m in (*MODELS, "ceiling")}
    steering: dict[str, dict[str, float]] = {m: {} for m in (*MODELS, "random", "best")}
    for g, group in enumerate(population.group_names):
        members = population.members(group)
        triples = sample_response_pairs(N_HELD_OUT, seed=90_000 + 10 * seed + g)
        labellers = rng.choice(members, len(triples))
        labels, gaps = [], []
        for (prompt, a, b), uid in zip(triples, labellers):
            user = population.users[uid]
            labels.append(user.compare(prompt, a, b, rng))
            gaps.append(user.u(prompt, a) - user.u(prompt, b))
        labels = np.array(labels)
        phi_a = torch.cat([features_of(p, [a]) for p, a, _ in triples])
        phi_b = torch.cat([features_of(p, [b]) for p, _, b in triples])
        for model in MODELS:
            prefer_a = np.array(
                [
                    bool(
                        score(model, phi_a[i : i + 1], int(uid))
                        > score(model, phi_b[i : i + 1], int(uid))
                    )
                    for i, uid in enumerate(labellers)
                ]
            )
            accuracy[model][group] = float(np.mean(prefer_a == labels))
        accuracy["ceiling"][group] = group_ceiling(population, group, np.array(gaps))

        # steer: best-of-N for the group's first member, scored by the group's true utility
        uid = members[0]
        user = population.users[uid]
        gen = np.random.default_rng(95_000 + 10 * seed + g)
        picked: dict[str, list[float]] = {m: [] for m in steering}
        for prompt in sample_prompts(N_PROMPTS, seed=96_000 + 10 * seed + g):
            candidates = [sample_response(prompt, gen) for _ in range(N_CANDIDATES)]
            utilities = np.array([user.u(prompt, c) for c in candidates])
            phi_c = features_of(prompt, candidates)
            for model in MODELS:
                picked[model].append(utilities[int(score(model, phi_c, uid).argmax())])
            picked["random"].append(utilities[0])
            picked["best"].append(utilities.max())
        for name, values in picked.items():
            steering[name][group] = float(np.mean(values))
    return {"accuracy": accuracy, "steering": steering}


def run_personalization_study(seeds: list[int]) -> dict[str, Any]:
    population = default_population()
    per_seed = [one_seed(seed) for seed in progress(seeds, desc="personalization: seeds")]
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
    results["steering"] = {
        name: mean_over_seeds("steering", name) for name in (*MODELS, "random", "best")
    }
    results["per_seed"] = per_seed
    return results


def plot_personalization_study(results: dict[str, Any], out: Path) -> list[Path]:
    import matplotlib.pyplot as plt  # noqa: I001

    from rlhf_edu.viz.figures import save_figure  # first: it picks a backend without a screen

    groups = list(results["groups"])
    x = np.arange(len(groups))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.2
    for i, name in enumerate((*MODELS, "ceiling")):
        axes[0].bar(x + (i - 1.5) * width, [results[name][g] for g in groups], width, label=name)
    axes[0].set_xticks(x, [f"{g} ({results['groups'][g]:.0%})" for g in groups])
    axes[0].set_ylim(0.4, 1.0)
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
        )
    axes[1].set_xticks(x, groups)
    axes[1].set_ylabel("the group's true utility of the pick")
    axes[1].set_title("best-of-8 steered by each reward model")
    axes[1].legend(fontsize=8)
    fig.suptitle(f"One reward model for everyone vs per user ({len(results['seeds'])} seeds)")
    fig.tight_layout()
    path = save_figure(fig, out / "personalization.png")
    plt.close(fig)
    return [path]
