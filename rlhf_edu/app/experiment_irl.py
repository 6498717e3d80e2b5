"""``rlhf-edu experiment irl``: how well do demonstrations and comparisons recover a reward?

On ``colour_gridworld`` (one world per seed, each with its own layout), for each budget ``n``:

- **MaxEnt IRL** (Ziebart et al. 2008) from ``n`` demonstrations of the soft-optimal expert;
- **T-REX** (Brown et al. 2019) from ``n`` Bradley-Terry comparisons of trajectories
  (``irl.sample_trajectory_pairs``), the same number of answers from a person.

Two measures of the recovered reward ``r_hat = features @ theta_hat`` against the true one:

- ``reward_correlation``: Pearson's r of ``r_hat`` and ``r`` over the states (a reward is
  identified only up to shift and scale, which the correlation ignores);
- ``optimal_fraction``: the optimal policy for ``r_hat`` scored under the true reward, as a
  fraction of the optimum (``irl.optimal_fraction``; 1.0 is optimal).

Writes ``results.json`` (per method: the per-seed rows and their mean at each budget) and two
plots beside it. Deterministic: the same seeds give the same file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rlhf_edu.tabular import irl
from rlhf_edu.utils.progress import progress

GAMMA = 0.9
HORIZON = 30
BUDGETS = (2, 5, 10, 20, 50)
METHODS = {"maxent": "MaxEnt IRL (demonstrations)", "trex": "T-REX (comparisons)"}


def recover(method: str, seed: int, n: int) -> dict[str, float]:
    """Recover the reward of world ``seed`` from ``n`` answers with ``method``; score it."""
    world, features, true_theta = irl.colour_gridworld(seed=seed)
    true_reward = features @ true_theta
    if method == "maxent":
        _, _, expert = irl.soft_value_iteration(world, true_reward, GAMMA)
        demos = irl.sample_trajectories(world, expert, n=n, horizon=HORIZON, seed=100 + seed)
        theta = irl.maxent_irl(world, features, demos, GAMMA)
    elif method == "trex":
        pairs = irl.sample_trajectory_pairs(
            world, features, true_theta, n, HORIZON, GAMMA, seed=200 + seed
        )
        theta = irl.preference_irl(world, features, pairs, GAMMA)
    else:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
    recovered = features @ theta
    return {
        "reward_correlation": float(np.corrcoef(recovered, true_reward)[0, 1]),
        "optimal_fraction": irl.optimal_fraction(world, recovered, GAMMA),
    }


def run_irl_study(seeds: list[int], budgets: tuple[int, ...] = BUDGETS) -> dict[str, Any]:
    """Every method x seed x budget; returns the results.json content."""
    rows: dict[str, dict[str, list[list[float]]]] = {
        measure: {method: [] for method in METHODS}
        for measure in ("reward_correlation", "optimal_fraction")
    }
    jobs = [(method, seed) for seed in seeds for method in METHODS]
    for method, seed in progress(jobs, desc="irl: methods x worlds"):
        scores = [recover(method, seed, n) for n in budgets]
        for measure, by_method in rows.items():
            by_method[method].append([round(s[measure], 6) for s in scores])
    results: dict[str, Any] = {
        "experiment": "irl",
        "world": "colour_gridworld (6x6, one layout per seed)",
        "gamma": GAMMA,
        "horizon": HORIZON,
        "seeds": list(seeds),
        "budgets": list(budgets),
        "methods": METHODS,
    }
    for measure, by_method in rows.items():
        results[measure] = {
            method: {
                "per_seed": per_seed,
                "mean": [round(float(v), 6) for v in np.mean(per_seed, axis=0)],
            }
            for method, per_seed in by_method.items()
        }
    return results


def plot_irl_study(results: dict[str, Any], out: Path) -> list[Path]:
    """One plot per measure: the mean over worlds against the budget, with the min-max band."""
    import matplotlib.pyplot as plt  # noqa: I001

    from rlhf_edu.viz.figures import save_figure  # first: it picks a backend without a screen

    written = []
    titles = {
        "reward_correlation": "correlation of the recovered reward with the true one",
        "optimal_fraction": "optimal policy for the recovered reward, fraction of the optimum",
    }
    for measure, title in titles.items():
        fig, ax = plt.subplots(figsize=(6.4, 4))
        for method, label in results["methods"].items():
            rows = np.array(results[measure][method]["per_seed"])
            ax.plot(results["budgets"], rows.mean(0), marker="o", label=label)
            ax.fill_between(results["budgets"], rows.min(0), rows.max(0), alpha=0.2)
        ax.set_xscale("log")
        ax.set_xlabel("number of demonstrations / comparisons")
        ax.set_ylabel(measure.replace("_", " "))
        ax.set_title(f"{title}\n({len(results['seeds'])} worlds; band: min to max)", fontsize=10)
        ax.legend()
        fig.tight_layout()
        written.append(save_figure(fig, out / f"{measure}.png"))
        plt.close(fig)
    return written
