"""Dynamic programming on a known MDP (Sutton & Barto, Chapter 4).

Bellman expectation backup (policy evaluation), for a policy ``pi[s, a]``:

    V(s) <- sum_a pi(a|s) [ R(s, a) + gamma * sum_s' P(s'|s, a) V(s') ]

Bellman optimality backup (value iteration):

    V(s) <- max_a [ R(s, a) + gamma * sum_s' P(s'|s, a) V(s') ]

Policy iteration alternates full evaluation with greedy improvement and stops when the policy is
stable. "Stable" must tolerate ties: a state keeps its action while that action is still among
the best (S&B Exercise 4.4), otherwise two equally good actions can swap forever.
Terminal states have value 0 by definition and are never backed up.

With gamma = 1 and zero rewards on the way, many actions can tie: on the slippery 8x8 FrozenLake
every safe tile has ``v* = 1`` (the goal is reached *eventually* with probability 1), so moving
against a wall is exactly as "optimal" as walking to the goal, and ``argmax`` (first index) picks
LEFT in dozens of states and never arrives. ``value_iteration`` at gamma = 1 therefore breaks
ties toward the terminal states (``greedy_policy_reaching_terminal``): among the actions within a
tolerance of the best, it takes one that can move closer (in steps) to a terminal state. Such a
policy ends episodes with probability 1 and uses only optimal actions, so its value is ``v*``.

``finite_horizon_evaluation`` answers "what happens within the time limit": with reward 1 at the
goal and gamma 1, ``V_H(s)`` is the probability of reaching the goal within ``H`` steps.
"""

from __future__ import annotations

import numpy as np

from rlhf_edu.envs.mdp import TabularMDP
from rlhf_edu.utils.validation import check_int

#: Sweeps after which policy_evaluation / value_iteration give up (RuntimeError).
MAX_SWEEPS = 100_000


def check_gamma(gamma: float) -> float:
    """Return ``gamma`` as a float if it lies in [0, 1], else raise ValueError."""
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float, np.floating, np.integer)):
        raise TypeError(f"gamma must be a number in [0, 1], got {type(gamma).__name__}")
    if not 0.0 <= float(gamma) <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {gamma}")
    return float(gamma)


def _check_mdp(mdp: TabularMDP) -> TabularMDP:
    if not isinstance(mdp, TabularMDP):
        raise TypeError(f"mdp must be a TabularMDP, got {type(mdp).__name__}")
    return mdp


def _check_theta(theta: float) -> float:
    if not float(theta) > 0:
        raise ValueError(f"theta must be > 0, got {theta}")
    return float(theta)


def q_from_v(mdp: TabularMDP, V: np.ndarray, gamma: float) -> np.ndarray:
    """Action values from state values: ``Q[s, a] = R[s, a] + gamma * sum_s' P[s, a, s'] V[s']``.

    Terminal states get ``Q = 0``.
    """
    V = np.where(mdp.terminal, 0.0, np.asarray(V, dtype=np.float64))
    Q = mdp.R + gamma * mdp.P @ V  # (S, A)
    Q[mdp.terminal] = 0.0
    return Q


def bellman_optimality_backup(mdp: TabularMDP, V: np.ndarray, gamma: float) -> np.ndarray:
    """The Bellman optimality operator: ``(T V)(s) = max_a [R(s, a) + gamma sum_s' P(s'|s, a) V(s')]``.

    Terminal states get 0 (``q_from_v`` treats ``V`` as 0 there). Shape (S,).
    """
    return q_from_v(mdp, V, gamma).max(axis=1)


def bellman_contraction_sides(
    mdp: TabularMDP, V1: np.ndarray, V2: np.ndarray, gamma: float
) -> tuple[float, float]:
    """Both sides of the contraction bound ``||T V1 - T V2||_inf <= gamma ||V1 - V2||_inf``.

    ``T`` is ``bellman_optimality_backup``. Since ``|max_a f(a) - max_a g(a)| <= max_a |f - g|``
    and each ``P[s, a]`` averages, every entry of ``T V1 - T V2`` is at most
    ``gamma max_s' |V1(s') - V2(s')|`` in size (S&B Section 4.4; Bertsekas's contraction
    argument), which is why value iteration converges from any start.

    Returns:
        ``(lhs, rhs)`` = ``(max_s |T V1 - T V2|, gamma * max_s |V1 - V2|)`` as floats.
    """
    lhs = np.max(
        np.abs(
            bellman_optimality_backup(mdp, V1, gamma) - bellman_optimality_backup(mdp, V2, gamma)
        )
    )
    rhs = gamma * np.max(
        np.abs(np.asarray(V1, dtype=np.float64) - np.asarray(V2, dtype=np.float64))
    )
    return float(lhs), float(rhs)


def improve_policy(Q: np.ndarray, actions: np.ndarray | None) -> np.ndarray:
    """Greedy improvement that keeps the current action while it is still among the best.

    ``actions`` (S,) are the current policy's actions (None on the first improvement). A state
    keeps its action when ``Q[s, actions[s]] >= max_a Q[s, a] - 1e-9 (1 + max |Q|)``; otherwise
    it takes ``argmax_a Q[s, a]`` (first index). Without the "keep" rule two equally good
    actions can swap forever and policy iteration never stops (S&B Exercise 4.4).

    Returns:
        (S,) integer actions.
    """
    Q = np.asarray(Q, dtype=np.float64)
    best = Q.argmax(axis=1)
    if actions is None:
        return best
    actions = np.asarray(actions, dtype=np.int64)
    tol = 1e-9 * (1 + np.abs(Q).max())
    old_still_best = Q[np.arange(Q.shape[0]), actions] >= Q.max(axis=1) - tol
    return np.where(old_still_best, actions, best)


def greedy_policy(Q: np.ndarray, tol: float = 1e-9) -> np.ndarray:
    """One-hot (S, A) policy choosing, in each state, the first action within ``tol`` of the best."""
    Q = np.asarray(Q, dtype=np.float64)
    best = Q >= Q.max(axis=1, keepdims=True) - tol
    policy = np.zeros_like(Q)
    policy[np.arange(Q.shape[0]), best.argmax(axis=1)] = 1.0
    return policy


def greedy_policy_reaching_terminal(mdp: TabularMDP, Q: np.ndarray, tol: float) -> np.ndarray:
    """A one-hot greedy policy for ``Q`` whose ties are broken toward the terminal states.

    ``best[s, a]`` marks the actions within ``tol`` of ``max_a Q[s, a]``. Among them:

    1. ``steps[s]``, the fewest transitions (with positive probability, through best actions only)
       from ``s`` to a terminal state, gives a first policy that ends episodes with probability 1
       (each state takes a best action that can reach a state one step closer);
    2. policy iteration on the expected number of steps to termination, ``T = 1 + P_pi T``, over
       the best actions only, then makes it the quickest such policy.

    Every action it takes is optimal and it ends episodes with probability 1, so its value is
    ``v*``; ``argmax`` alone can pick actions that never arrive (moving against a wall is as good
    as walking to the goal when the goal is reached "eventually" and gamma = 1). States from which
    no terminal state is reachable through best actions take their first best action.
    """
    mdp = _check_mdp(mdp)
    Q = np.asarray(Q, dtype=np.float64)
    n_states = mdp.n_states
    best = Q >= Q.max(axis=1, keepdims=True) - float(tol)  # (S, A)
    reachable = mdp.P > 0  # (S, A, S)
    steps = np.where(mdp.terminal, 0.0, np.inf)  # (S,)
    for _ in range(n_states):
        successor_steps = np.where(reachable, steps[None, None, :], np.inf).min(axis=2)  # (S, A)
        via_best = np.where(best, 1.0 + successor_steps, np.inf).min(axis=1)
        steps_new = np.where(mdp.terminal, 0.0, np.minimum(steps, via_best))
        if np.array_equal(steps_new, steps):
            break
        steps = steps_new
    successor_steps = np.where(reachable, steps[None, None, :], np.inf).min(axis=2)
    candidates = np.where(best, successor_steps, np.inf)  # (S, A)
    proper = np.isfinite(steps) & ~mdp.terminal  # states that can end through best actions
    actions = np.where(proper, candidates.argmin(axis=1), best.argmax(axis=1))
    # 2. quickest among them: policy iteration on the expected steps, best actions that stay
    # among the states that can end (or end) only.
    stays = mdp.P[:, :, ~(proper | mdp.terminal)].sum(axis=2) == 0  # (S, A)
    allowed = best & stays
    idx = np.flatnonzero(proper)
    rows = np.arange(n_states)
    if idx.size and allowed[idx, actions[idx]].all():
        for _ in range(100):
            P_pi = mdp.P[idx, actions[idx]][:, idx]  # (F, F)
            try:
                expected_steps = np.linalg.solve(np.eye(idx.size) - P_pi, np.ones(idx.size))
            except np.linalg.LinAlgError:
                break
            steps_q = 1.0 + mdp.P[:, :, idx] @ expected_steps  # (S, A)
            steps_q = np.where(allowed, steps_q, np.inf)
            current = steps_q[rows, actions]
            improve = proper & (steps_q.min(axis=1) < current - 1e-9 * (1.0 + current))
            if not improve.any():
                break
            actions = np.where(improve, steps_q.argmin(axis=1), actions)
    policy = np.zeros_like(Q)
    policy[rows, actions] = 1.0
    return policy


def policy_evaluation(
    mdp: TabularMDP,
    policy: np.ndarray,
    gamma: float,
    theta: float = 1e-8,
) -> np.ndarray:
    """Iterative policy evaluation: sweep the Bellman expectation backup until ``max |dV| < theta``.

    Args:
        mdp: the MDP.
        policy: (S, A) action probabilities, rows summing to 1.
        gamma: discount in [0, 1]. With gamma = 1 the policy must end episodes with probability 1.
        theta: stopping threshold (> 0). Gives up (RuntimeError) after ``MAX_SWEEPS`` sweeps.

    Returns:
        V, shape (S,).
    """
    mdp = _check_mdp(mdp)
    gamma, theta = check_gamma(gamma), _check_theta(theta)
    P_pi, R_pi = mdp.policy_transitions(policy)  # (S, S), (S,)
    continuing = ~mdp.terminal
    V = np.zeros(mdp.n_states)
    for _ in range(MAX_SWEEPS):
        V_new = np.where(continuing, R_pi + gamma * P_pi @ V, 0.0)
        delta = np.max(np.abs(V_new - V))
        V = V_new
        if delta < theta:
            return V
    raise RuntimeError(
        f"policy_evaluation did not converge in {MAX_SWEEPS} sweeps (gamma={gamma}); "
        "with gamma = 1 the policy must reach a terminal state with probability 1"
    )


def policy_iteration(
    mdp: TabularMDP, gamma: float, theta: float = 1e-8, *, max_iterations: int = 1_000
) -> tuple[np.ndarray, np.ndarray]:
    """Policy iteration; returns ``(V, policy)`` with a deterministic one-hot (S, A) policy.

    Starts from the uniform random policy (which ends episodes with probability 1 in the course's
    worlds, so its evaluation converges even with gamma = 1). Improvement keeps the current action whenever it is still greedy (ties do not count as
    improvement), so the loop terminates even when several policies are optimal.
    """
    mdp = _check_mdp(mdp)
    gamma, theta = check_gamma(gamma), _check_theta(theta)
    n_states, n_actions = mdp.n_states, mdp.n_actions
    policy = np.full((n_states, n_actions), 1.0 / n_actions)  # start: uniform random
    actions = None
    for _ in range(int(max_iterations)):
        V = policy_evaluation(mdp, policy, gamma, theta)
        new_actions = improve_policy(q_from_v(mdp, V, gamma), actions)
        if actions is not None and np.array_equal(new_actions, actions):
            return V, policy
        actions = new_actions
        policy = np.zeros((n_states, n_actions))
        policy[np.arange(n_states), actions] = 1.0
    raise RuntimeError(f"policy_iteration did not stabilise in {max_iterations} iterations")


def value_iteration(
    mdp: TabularMDP, gamma: float, theta: float = 1e-8
) -> tuple[np.ndarray, np.ndarray]:
    """Value iteration; returns ``(V, policy)``, the greedy one-hot policy for the converged V.

    Sweeps the Bellman optimality backup ``V(s) <- max_a [R(s, a) + gamma sum_s' P V(s')]``
    (S&B Section 4.4) until ``max |dV| < theta``. With gamma = 1, ties within
    ``max(1e-9, 100 theta) (1 + max |Q|)`` are broken toward the terminal states
    (``greedy_policy_reaching_terminal``), so the policy does not wander forever among actions
    that are only optimal because the goal is reached "eventually".
    """
    mdp = _check_mdp(mdp)
    gamma, theta = check_gamma(gamma), _check_theta(theta)
    V = np.zeros(mdp.n_states)
    for _ in range(MAX_SWEEPS):
        V_new = q_from_v(mdp, V, gamma).max(axis=1)
        delta = np.max(np.abs(V_new - V))
        V = V_new
        if delta < theta:
            Q = q_from_v(mdp, V, gamma)
            if gamma == 1.0:
                tol = max(1e-9, 100.0 * theta) * (1.0 + np.abs(Q).max())
                return V, greedy_policy_reaching_terminal(mdp, Q, tol)
            return V, greedy_policy(Q)
    raise RuntimeError(f"value_iteration did not converge in {MAX_SWEEPS} sweeps (gamma={gamma})")


def finite_horizon_evaluation(
    mdp: TabularMDP, policy: np.ndarray, horizon: int, gamma: float = 1.0
) -> np.ndarray:
    """Expected return within ``horizon`` steps: ``V_0 = 0``, ``V_{k+1} = R_pi + gamma P_pi V_k``.

    With FrozenLake's reward (1 at the goal, else 0) and gamma = 1, ``V_H[s]`` is exactly the
    probability of reaching the goal within ``H`` steps from ``s``: the success rate under the
    time limit ``H`` (100 for FrozenLake-v1, 200 for FrozenLake8x8-v1).
    """
    mdp = _check_mdp(mdp)
    gamma = check_gamma(gamma)
    horizon = check_int("horizon", horizon, 1)
    P_pi, R_pi = mdp.policy_transitions(policy)
    continuing = ~mdp.terminal
    V = np.zeros(mdp.n_states)
    for _ in range(int(horizon)):
        V = np.where(continuing, R_pi + gamma * P_pi @ V, 0.0)
    return V


def finite_horizon_optimum(mdp: TabularMDP, horizon: int, gamma: float = 1.0) -> np.ndarray:
    """The best expected return within ``horizon`` steps over *all* (time-dependent) policies.

    Backward induction: ``V_{k+1}(s) = max_a [R(s, a) + gamma sum_s' P(s'|s, a) V_k(s')]``.
    An upper bound for any stationary policy's ``finite_horizon_evaluation``.
    """
    mdp = _check_mdp(mdp)
    gamma = check_gamma(gamma)
    horizon = check_int("horizon", horizon, 1)
    V = np.zeros(mdp.n_states)
    for _ in range(int(horizon)):
        V = q_from_v(mdp, V, gamma).max(axis=1)
    return V


def start_value(mdp: TabularMDP, V: np.ndarray) -> float:
    """Expected value at the start: ``sum_s initial[s] V[s]``."""
    return float(mdp.initial @ np.asarray(V, dtype=np.float64))
