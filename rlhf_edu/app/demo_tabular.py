"""The tabular part of ``rlhf-edu demo``: Q-learning on FrozenLake8x8, checked against the optimum.

Trains Q-learning (the fast path) on slippery FrozenLake8x8-v1, evaluates the learned greedy
policy's exact success probability within the 200-step time limit, computes the best possible
success by backward induction, and draws the learned values with the greedy policy's arrows and
the cliff-walking paths of SARSA and Q-learning.
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from rlhf_edu.envs import TabularMDP, estimate_success_rate  # noqa: E402
from rlhf_edu.tabular.dp import (  # noqa: E402
    finite_horizon_evaluation,
    finite_horizon_optimum,
    start_value,
    value_iteration,
)
from rlhf_edu.tabular.td import q_learning, sarsa  # noqa: E402
from rlhf_edu.utils.seeding import check_seed  # noqa: E402
from rlhf_edu.viz import plot_learning_curves, plot_policy_arrows, save_figure  # noqa: E402
from rlhf_edu.viz.grid import toy_text_labels  # noqa: E402
from rlhf_edu.viz.tabular import greedy_path, plot_grid_paths  # noqa: E402

LAKE, HORIZON = "FrozenLake8x8-v1", 200


def run(out_dir: Path, seed: int) -> dict:
    """Train, evaluate and plot; return the "tabular" entry of summary.json."""
    seed = check_seed(seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    env = gym.make(LAKE)
    lake = TabularMDP.from_gymnasium(env)
    optimal_success = start_value(lake, finite_horizon_optimum(lake, HORIZON))
    _, vi_policy = value_iteration(lake, 0.995, 1e-10)
    vi_success = start_value(lake, finite_horizon_evaluation(lake, vi_policy, HORIZON))

    result = q_learning(LAKE, 60_000, 0.02, 0.9995, 1.0, seed, epsilon_final=0.01)
    success = start_value(lake, finite_horizon_evaluation(lake, result.policy, HORIZON))
    actions = result.policy.argmax(axis=1)
    success_estimate = estimate_success_rate(env, lambda s: int(actions[s]), 1000, seed)

    fig = plot_policy_arrows(
        result.policy,
        (8, 8),
        V=result.Q.max(axis=1),
        terminal=lake.terminal,
        labels=toy_text_labels(env),
        title=f"FrozenLake8x8: Q-learning's max Q and greedy policy (success {success:.4f})\n"
        "H: hole (episode ends, reward 0), G: goal (reward 1)",
    )
    save_figure(fig, out_dir / "tabular_frozenlake8x8_policy.png")
    plt.close(fig)
    fig = plot_learning_curves(
        {"Q-learning": result.episode_returns},
        smooth_window=500,
        ylabel="success rate (training episodes)",
        hline=optimal_success,
        hline_label="optimum (greedy, 200 steps)",
        title="FrozenLake8x8-v1",
    )
    save_figure(fig, out_dir / "tabular_frozenlake8x8_training.png")
    plt.close(fig)

    cliff = TabularMDP.from_gymnasium(gym.make("CliffWalking-v1"))
    runs = {
        "SARSA": sarsa("CliffWalking-v1", 500, 0.5, 1.0, 0.1, seed),
        "Q-learning": q_learning("CliffWalking-v1", 500, 0.5, 1.0, 0.1, seed),
    }
    paths = {name: greedy_path(cliff.transitions, run.policy, 36) for name, run in runs.items()}
    fig = plot_grid_paths(
        paths, (4, 12), cliff=range(37, 47), start=36, goal=47, title="Cliff walking: greedy paths"
    )
    save_figure(fig, out_dir / "tabular_cliff_paths.png")
    plt.close(fig)

    return {
        "frozenlake8x8_success": round(float(success), 4),
        "frozenlake8x8_optimal_success": round(float(optimal_success), 4),
        "frozenlake8x8_value_iteration_success": round(float(vi_success), 4),
        "frozenlake8x8_success_estimate_1000_episodes": round(float(success_estimate), 4),
        "frozenlake8x8_training_steps": int(result.episode_lengths.sum()),
        "cliff_online_return_sarsa": round(float(runs["SARSA"].episode_returns[100:].mean()), 2),
        "cliff_online_return_q_learning": round(
            float(runs["Q-learning"].episode_returns[100:].mean()), 2
        ),
        "horizon": HORIZON,
    }
