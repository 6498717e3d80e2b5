"""The stored RLHF PPO experiment of notebooks 10 and 11 (kept here for the notebooks' imports).

The data lives in ``rlhf_edu.data`` (``ppo_curves.json``); the experiment that writes it is an
application, ``python -m rlhf_edu.app.ppo_experiment``.
"""

from rlhf_edu.data import PPO_CURVES_PATH as CURVES_PATH
from rlhf_edu.data import load_ppo_curves, load_ppo_kl_sweep

__all__ = ["CURVES_PATH", "load_ppo_curves", "load_ppo_kl_sweep"]
