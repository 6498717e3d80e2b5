"""A gymnasium env that samples episodes from a ``TabularMDP``, exactly like gymnasium's toy-text envs.

Sampling rule (the same as ``gymnasium.envs.toy_text.utils.categorical_sample``): draw one uniform
``u = np_random.random()`` and take the first outcome whose cumulative probability exceeds ``u``.
``reset`` draws one uniform for the start state; ``step`` draws one for the outcome, plus one more
when the action's reward is noisy (``reward_std > 0``), turned into a Gaussian by the inverse CDF.
Because only uniforms are drawn, a fast loop that reads the same uniforms from the same seed
reproduces every episode exactly (see ``rlhf_edu.tabular.fast``).
"""

from __future__ import annotations

import bisect
from statistics import NormalDist
from typing import Any

import gymnasium as gym
import numpy as np

from rlhf_edu.envs.mdp import TabularMDP

_STANDARD_NORMAL = NormalDist()


def sample_index(cumulative: list[float], u: float) -> int:
    """Index of the first cumulative probability greater than ``u`` (0 if none, like numpy's argmax)."""
    i = bisect.bisect_right(cumulative, u)
    return i if i < len(cumulative) else 0


def gaussian_from_uniform(u: float) -> float:
    """A standard normal draw from a uniform in [0, 1) by the inverse CDF."""
    return _STANDARD_NORMAL.inv_cdf(min(max(u, 1e-300), 1.0 - 1e-16))


class TabularEnv(gym.Env):
    """Gymnasium env over a ``TabularMDP`` (observations and actions are ints).

    ``env.unwrapped.P`` is the ``TabularMDP`` itself, so ``TabularMDP.from_gymnasium`` returns it.
    """

    metadata = {"render_modes": ["ansi"]}

    def __init__(self, mdp: TabularMDP, render_mode: str | None = None):
        if not isinstance(mdp, TabularMDP):
            raise TypeError(f"mdp must be a TabularMDP, got {type(mdp).__name__}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        self.mdp = mdp
        self.P = mdp
        self.render_mode = render_mode
        self.observation_space = gym.spaces.Discrete(mdp.n_states)
        self.action_space = gym.spaces.Discrete(mdp.n_actions)
        self._initial_cumulative = np.cumsum(mdp.initial).tolist()
        self._outcome_cumulative = [
            [np.cumsum([o[0] for o in outcomes]).tolist() for outcomes in row]
            for row in mdp.transitions
        ]
        self.s = 0

    def to_mdp(self) -> TabularMDP:
        """The MDP this env samples from."""
        return self.mdp

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.s = sample_index(self._initial_cumulative, self.np_random.random())
        return int(self.s), {}

    def step(self, action: int):
        a = int(action)
        if not 0 <= a < self.mdp.n_actions:
            raise ValueError(f"action must be in [0, {self.mdp.n_actions}), got {action!r}")
        s = self.s
        i = sample_index(self._outcome_cumulative[s][a], self.np_random.random())
        _, s_next, reward, terminated = self.mdp.transitions[s][a][i]
        if self.mdp.reward_std is not None and self.mdp.reward_std[s, a] > 0:
            reward += self.mdp.reward_std[s, a] * gaussian_from_uniform(self.np_random.random())
        self.s = s_next
        return int(s_next), float(reward), bool(terminated), False, {}

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        if self.mdp.shape is None:
            return f"state {self.s}\n"
        rows, cols = self.mdp.shape
        lines = []
        for r in range(rows):
            cells = []
            for c in range(cols):
                s = r * cols + c
                cells.append("@" if s == self.s else ("T" if self.mdp.terminal[s] else "."))
            lines.append(" ".join(cells))
        return "\n".join(lines) + "\n"
