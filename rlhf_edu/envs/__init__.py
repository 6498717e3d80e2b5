"""Toy environments (gymnasium API) and tabular MDPs."""

from rlhf_edu.envs.evaluation import estimate_success_rate, random_policy

__all__ = ["estimate_success_rate", "random_policy"]
