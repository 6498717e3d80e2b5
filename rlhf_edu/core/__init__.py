"""The math that more than one track uses, written once.

- ``exploration``  epsilon-greedy action choice and the linear epsilon schedules (numpy only),
                   used by the tabular methods, the bandits and DQN
- ``returns``      discounted returns and generalized advantage estimation (torch), used by
                   REINFORCE, A2C, PPO and the RLHF PPO trainer

``core`` depends only on ``rlhf_edu.utils``; the tracks depend on it, never the other way.
Names are imported from their module on first use, so ``import rlhf_edu.core`` loads no torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "epsilon_for_episode": "exploration",
    "epsilon_greedy": "exploration",
    "epsilon_greedy_choice": "exploration",
    "epsilon_greedy_probabilities": "exploration",
    "epsilon_greedy_rows": "exploration",
    "linear_epsilon": "exploration",
    "maybe_explore": "exploration",
    "compute_gae": "returns",
    "discounted_returns": "returns",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
