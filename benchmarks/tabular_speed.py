"""Env-steps per second of ``rlhf_edu.tabular.q_learning`` vs a popular-course gymnasium loop.

Run from the repository root (one run measures both envs and prints the ratios):

    .venv/bin/python benchmarks/tabular_speed.py            # add --repeats 5 for steadier numbers

The baseline is Q-learning written the way the popular courses write it (e.g. the Hugging Face
Deep RL course, unit 2): ``np.argmax`` on a numpy Q-table row, ``random.uniform`` for the
exploration coin, ``env.action_space.sample()`` for random actions, and ``env.step`` through
gymnasium's wrappers. It is compared with our readable loop (``fast=False``: the same loop, our
tie-breaking and RNG discipline) and our default fast path (``fast=True``: the same algorithm
stepping the MDP's tables, identical results to the readable loop for the same seed).
Each measurement is the best of ``--repeats`` runs; all use the same episodes and hyperparameters.
"""

from __future__ import annotations

import argparse
import os
import random
import time

os.environ.setdefault("RLHF_EDU_NO_PROGRESS", "1")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402

from rlhf_edu.tabular import q_learning  # noqa: E402

CASES = {
    # env id: (episodes, alpha, gamma, epsilon)
    "FrozenLake8x8-v1": (3000, 0.1, 0.99, 0.1),
    "CliffWalking-v1": (500, 0.5, 1.0, 0.1),
}


def popular_course_q_learning(
    env_id: str, n_episodes: int, alpha: float, gamma: float, epsilon: float, seed: int
) -> int:
    """Q-learning as the popular courses write it; returns the number of env steps taken."""
    env = gym.make(env_id)
    env.action_space.seed(seed)
    random.seed(seed)
    Qtable = np.zeros((env.observation_space.n, env.action_space.n))
    steps = 0
    for episode in range(n_episodes):
        state, info = env.reset(seed=seed + episode)
        terminated = truncated = False
        while not (terminated or truncated):
            if random.uniform(0, 1) > epsilon:
                action = np.argmax(Qtable[state][:])
            else:
                action = env.action_space.sample()
            new_state, reward, terminated, truncated, info = env.step(action)
            Qtable[state][action] = Qtable[state][action] + alpha * (
                reward
                + gamma * np.max(Qtable[new_state]) * (not terminated)
                - Qtable[state][action]
            )
            state = new_state
            steps += 1
    return steps


def steps_per_second(run, repeats: int) -> float:
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        steps = run()
        best = max(best, steps / (time.perf_counter() - start))
    return best


def measure(
    env_id: str, n: int, alpha: float, gamma: float, epsilon: float, seed: int, repeats: int
) -> dict:
    """env-steps/s of the three loops on one env."""

    def baseline() -> int:
        return popular_course_q_learning(env_id, n, alpha, gamma, epsilon, seed)

    def ours(fast: bool) -> int:
        result = q_learning(env_id, n, alpha, gamma, epsilon, seed, fast=fast)
        return int(result.episode_lengths.sum())

    return {
        "popular-course gymnasium loop": steps_per_second(baseline, repeats),
        "rlhf_edu readable (fast=False)": steps_per_second(lambda: ours(False), repeats),
        "rlhf_edu fast path (default)": steps_per_second(lambda: ours(True), repeats),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"{'env':<18} {'loop':<31} {'env-steps/s':>12} {'vs popular':>11}")
    for env_id, (n, alpha, gamma, epsilon) in CASES.items():
        rates = measure(env_id, n, alpha, gamma, epsilon, args.seed, args.repeats)
        baseline = rates["popular-course gymnasium loop"]
        for name, rate in rates.items():
            print(f"{env_id:<18} {name:<31} {rate:>12,.0f} {rate / baseline:>10.1f}x")
        ratio = rates["rlhf_edu fast path (default)"] / baseline
        print(f"{env_id}: speed ratio (fast path / popular-course loop) = {ratio:.1f}x")


if __name__ == "__main__":
    main()
