"""rlhf_edu.neural: deep RL in plain PyTorch — returns and GAE, networks, REINFORCE, A2C, PPO, DQN.

    from rlhf_edu.neural import ppo, evaluate
    result = ppo.train("CartPole-v1", ppo.PPOConfig(), seed=0)   # result.agent, result.history
    evaluate(result.agent, "CartPole-v1", n_episodes=20, seed=0)   # greedy-policy mean return

Modules, one algorithm each: ``returns`` (discounted returns, GAE), ``networks`` (MLPs),
``rollout`` (vector envs, truncation bootstrap), ``reinforce``, ``actor_critic`` (A2C), ``ppo``,
``dqn``; ``agent`` (save/load) and ``evaluation``.
"""

from rlhf_edu.core.returns import compute_gae, discounted_returns
from rlhf_edu.neural import actor_critic, dqn, ppo, reinforce
from rlhf_edu.neural.actor_critic import ActorCriticConfig
from rlhf_edu.neural.agent import Agent, PolicyAgent, QAgent, TrainResult, load_agent
from rlhf_edu.neural.checks import NonFiniteLossError
from rlhf_edu.neural.dqn import DQNConfig
from rlhf_edu.neural.evaluation import evaluate, evaluate_episodes
from rlhf_edu.neural.ppo import PPOConfig
from rlhf_edu.neural.reinforce import ReinforceConfig

ALGORITHMS = {"ppo": ppo, "dqn": dqn, "a2c": actor_critic, "reinforce": reinforce}

__all__ = [
    "ALGORITHMS",
    "ActorCriticConfig",
    "Agent",
    "DQNConfig",
    "NonFiniteLossError",
    "PPOConfig",
    "PolicyAgent",
    "QAgent",
    "ReinforceConfig",
    "TrainResult",
    "actor_critic",
    "compute_gae",
    "discounted_returns",
    "dqn",
    "evaluate",
    "evaluate_episodes",
    "load_agent",
    "ppo",
    "reinforce",
]
