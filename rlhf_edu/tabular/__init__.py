"""Tabular methods: bandits, dynamic programming, Monte Carlo and TD control.

- ``bandits``  epsilon-greedy / optimistic, UCB and gradient bandits; ``run_testbed`` (Figure 2.2)
- ``dp``       policy evaluation, policy iteration, value iteration, finite-horizon evaluation
- ``mc``       on-policy first-visit Monte Carlo control
- ``td``       TD(0), SARSA, Q-learning, Expected SARSA, Double Q: pure updates and readable loops
- ``fast``     the same TD loops stepping the MDP's tables directly (identical results, faster)
- ``maximization_bias``  Figure 6.5's experiment
"""

from rlhf_edu.tabular.bandits import (
    EpsilonGreedyAgent,
    GradientBanditAgent,
    UCBAgent,
    bandit_testbed_loop,
    epsilon_greedy_actions,
    gradient_bandit_update,
    run_testbed,
    sample_average_update,
    softmax,
    ucb_action,
    ucb_actions,
    update_action_values,
)
from rlhf_edu.tabular.dp import (
    bellman_contraction_sides,
    bellman_optimality_backup,
    finite_horizon_evaluation,
    finite_horizon_optimum,
    greedy_policy,
    improve_policy,
    policy_evaluation,
    policy_iteration,
    q_from_v,
    start_value,
    value_iteration,
)
from rlhf_edu.tabular.maximization_bias import maximization_bias_experiment
from rlhf_edu.tabular.mc import (
    first_visit_mc_control,
    first_visit_returns,
    mc_control,
)
from rlhf_edu.tabular.td import (
    TabularResult,
    double_q_learning,
    double_q_update,
    epsilon_for_episode,
    epsilon_greedy,
    epsilon_greedy_probabilities,
    expected_sarsa,
    expected_sarsa_episode,
    expected_sarsa_update,
    q_learning,
    q_learning_episode,
    q_learning_update,
    sarsa,
    sarsa_episode,
    sarsa_update,
    td0,
    td0_update,
    td_control,
    train_q_learning,
)

__all__ = [
    "EpsilonGreedyAgent",
    "GradientBanditAgent",
    "TabularResult",
    "UCBAgent",
    "bandit_testbed_loop",
    "bellman_contraction_sides",
    "bellman_optimality_backup",
    "double_q_learning",
    "double_q_update",
    "epsilon_for_episode",
    "epsilon_greedy",
    "epsilon_greedy_actions",
    "epsilon_greedy_probabilities",
    "expected_sarsa",
    "expected_sarsa_episode",
    "expected_sarsa_update",
    "finite_horizon_evaluation",
    "finite_horizon_optimum",
    "first_visit_mc_control",
    "first_visit_returns",
    "gradient_bandit_update",
    "greedy_policy",
    "improve_policy",
    "maximization_bias_experiment",
    "mc_control",
    "policy_evaluation",
    "policy_iteration",
    "q_from_v",
    "q_learning",
    "q_learning_episode",
    "q_learning_update",
    "run_testbed",
    "sample_average_update",
    "sarsa",
    "sarsa_episode",
    "sarsa_update",
    "softmax",
    "start_value",
    "td0",
    "td0_update",
    "td_control",
    "train_q_learning",
    "ucb_action",
    "ucb_actions",
    "update_action_values",
    "value_iteration",
]
