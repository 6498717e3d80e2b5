"""Discounted returns and GAE for the neural track; they live in ``rlhf_edu.core.returns``, shared
with the RLHF track's PPO (re-exported here so ``from rlhf_edu.neural.returns import ...`` works)."""

from rlhf_edu.core.returns import compute_gae, discounted_returns

__all__ = ["compute_gae", "discounted_returns"]
