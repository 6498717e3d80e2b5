"""Stored experiment results the notebooks load (written by ``python -m rlhf_edu.rlhf.ppo_results``)."""
