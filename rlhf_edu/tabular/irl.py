"""Inverse reinforcement learning: recover a reward from what an expert does (or prefers).

The reward is linear in known features, ``r(s) = phi(s) . theta`` (or ``r(s, a) = phi(s, a) .
theta``), and we look for ``theta``.

**Soft (maximum-entropy) values.** Replacing the max of value iteration by a log-sum-exp gives

    Q(s, a) = r(s, a) + gamma * sum_s' P(s' | s, a) V(s')
    V(s)    = log sum_a exp Q(s, a)                  (V = 0 in terminal states)
    pi(a|s) = exp(Q(s, a) - V(s))

the policy of an agent that is optimal up to Boltzmann noise: better actions are exponentially
more likely, and no action is ever ruled out.

**MaxEnt IRL** (Ziebart et al. 2008). Model the expert as that soft-optimal agent and maximise
the log-likelihood of the demonstrations. Its gradient is a difference of (discounted) feature
expectations,

    grad_theta log L = mu_expert - mu_theta,    mu = E[ sum_t gamma^t phi(s_t, a_t) ]

so learning stops when the soft-optimal policy for ``theta`` visits the features as often as the
expert did.

**Preferences as IRL** (T-REX, Brown et al. 2019). Instead of demonstrations, a person compares
two trajectories; with a Bradley-Terry model over their returns under ``theta``,

    P(tau_1 > tau_2) = sigmoid(R_theta(tau_1) - R_theta(tau_2)),
    R_theta(tau)     = sum_t gamma^t phi(s_t, a_t) . theta,

and fitting ``theta`` is logistic regression on the difference of the two trajectories' feature
sums, the same loss as the reward model of module 09.

A trajectory here is a sequence of ``(state, action)`` pairs; terminal states add nothing (they
are worth 0, as in the rest of the tabular track).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rlhf_edu.envs.gridworlds import gridworld_mdp
from rlhf_edu.envs.mdp import TabularMDP
from rlhf_edu.tabular.dp import (
    _check_mdp,
    check_gamma,
    policy_evaluation,
    start_value,
    value_iteration,
)
from rlhf_edu.utils.validation import check_float, check_int

__all__ = [
    "colour_gridworld",
    "feature_expectations",
    "maxent_irl",
    "optimal_fraction",
    "preference_irl",
    "sample_trajectories",
    "sample_trajectory_pairs",
    "soft_value_iteration",
    "trajectory_features",
    "trajectory_preference_loss",
]

Trajectory = Sequence[tuple[int, int]]


# ---------------------------------------------------------------------------------------------
# A gridworld whose reward is linear in features
# ---------------------------------------------------------------------------------------------

#: The colours of ``colour_gridworld``'s cells, their share of the grid and their true reward.
COLOURS = ("floor", "goal", "lava", "mud")
COLOUR_SHARE = (0.6, 0.05, 0.2, 0.15)
TRUE_THETA = np.array([-0.2, 4.0, -4.0, -1.0])


def colour_gridworld(size: int = 6, seed: int = 0) -> tuple[TabularMDP, np.ndarray, np.ndarray]:
    """A ``size`` x ``size`` grid of coloured cells: ``(mdp, features, true_theta)``.

    Each cell is floor, goal, lava or mud (drawn with ``seed``; the bottom-right cell is always a
    goal). ``features`` is the one-hot colour of each state, (S, 4), and the reward of acting in
    a state is ``features @ true_theta`` (floor -0.2, goal +4, lava -4, mud -1). Moves are
    deterministic, there are no terminal states (a discounted continuing task), and episodes
    start anywhere, uniformly. The expert lingers on goals and walks around lava and mud.
    """
    size = check_int("size", size, low=2)
    rng = np.random.default_rng(check_int("seed", seed, low=0))
    colours = rng.choice(len(COLOURS), size=size * size, p=COLOUR_SHARE)
    colours[-1] = COLOURS.index("goal")
    features = np.eye(len(COLOURS))[colours]  # (S, F)
    grid = gridworld_mdp((size, size), terminal_cells=())
    reward = np.repeat((features @ TRUE_THETA)[:, None], grid.n_actions, axis=1)
    mdp = TabularMDP(grid.P, reward, grid.terminal, shape=grid.shape, name="ColourGridworld")
    return mdp, features, TRUE_THETA.copy()


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------


def reward_table(mdp: TabularMDP, reward: np.ndarray) -> np.ndarray:
    """``reward`` of shape (S,) or (S, A) as an (S, A) table ``r(s, a)``."""
    reward = np.asarray(reward, dtype=np.float64)
    S, A = mdp.n_states, mdp.n_actions
    if reward.shape == (S,):
        reward = np.repeat(reward[:, None], A, axis=1)
    elif reward.shape != (S, A):
        raise ValueError(
            f"reward must have shape (n_states,) = ({S},) or (n_states, n_actions) = ({S}, {A}), "
            f"got {reward.shape}"
        )
    if not np.all(np.isfinite(reward)):
        raise ValueError("reward must be finite (no NaN or inf)")
    return reward


def feature_table(mdp: TabularMDP, features: np.ndarray) -> np.ndarray:
    """``features`` of shape (S, F) or (S, A, F) as an (S, A, F) table ``phi(s, a)``."""
    features = np.asarray(features, dtype=np.float64)
    S, A = mdp.n_states, mdp.n_actions
    if features.ndim == 2 and features.shape[0] == S:
        features = np.repeat(features[:, None, :], A, axis=1)
    elif not (features.ndim == 3 and features.shape[:2] == (S, A)):
        raise ValueError(
            f"features must have shape (n_states, n_features) = ({S}, F) or "
            f"(n_states, n_actions, n_features) = ({S}, {A}, F), got {features.shape}"
        )
    if features.shape[-1] < 1 or not np.all(np.isfinite(features)):
        raise ValueError("features must have at least one finite column")
    return features


def check_trajectories(
    mdp: TabularMDP, trajectories: Sequence[Trajectory], name: str = "demonstrations"
) -> list[np.ndarray]:
    """Each trajectory as an (T, 2) int array of (state, action); raise naming the bad step."""
    if isinstance(trajectories, np.ndarray) or not isinstance(trajectories, Sequence):
        raise TypeError(f"{name} must be a list of trajectories (lists of (state, action) pairs)")
    if len(trajectories) == 0:
        raise ValueError(f"{name} is empty: need at least one trajectory")
    checked = []
    for i, trajectory in enumerate(trajectories):
        steps = np.asarray(trajectory)
        if steps.ndim != 2 or steps.shape[1] != 2 or len(steps) == 0:
            raise ValueError(
                f"{name}[{i}] must be a non-empty sequence of (state, action) pairs, "
                f"got shape {steps.shape}"
            )
        if not np.issubdtype(steps.dtype, np.integer):
            raise TypeError(f"{name}[{i}] must hold integer states and actions, got {steps.dtype}")
        for t, (s, a) in enumerate(steps):
            if not 0 <= s < mdp.n_states:
                raise ValueError(
                    f"{name}[{i}][{t}] has state {s}, outside the MDP's states 0..{mdp.n_states - 1}"
                )
            if not 0 <= a < mdp.n_actions:
                raise ValueError(
                    f"{name}[{i}][{t}] has action {a}, outside the MDP's actions "
                    f"0..{mdp.n_actions - 1}"
                )
        checked.append(steps.astype(np.int64))
    return checked


# ---------------------------------------------------------------------------------------------
# Soft value iteration
# ---------------------------------------------------------------------------------------------


def soft_value_iteration(
    mdp: TabularMDP,
    reward: np.ndarray,
    gamma: float,
    tol: float = 1e-8,
    max_iter: int = 10_000,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Soft-optimal values and policy for ``reward``; returns ``(V, Q, policy)``.

    ``Q(s, a) = r(s, a) + gamma sum_s' P(s'|s, a) V(s')``, ``V(s) = log sum_a exp Q(s, a)``,
    ``policy = exp(Q - V)``, iterated until ``max |V_new - V| < tol``. Terminal states have
    ``V = Q = 0`` and a uniform policy. ``reward`` has shape (S,) or (S, A).
    """
    mdp = _check_mdp(mdp)
    gamma = check_gamma(gamma)
    tol = check_float("tol", tol, 0.0, low_open=True)
    max_iter = check_int("max_iter", max_iter)
    return _soft_value_iteration(mdp, reward_table(mdp, reward), gamma, tol, max_iter)


def _soft_value_iteration(
    mdp: TabularMDP,
    r: np.ndarray,
    gamma: float,
    tol: float,
    max_iter: int,
    V: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The iteration itself, on a checked (S, A) reward, from ``V`` (default zeros)."""
    terminal = mdp.terminal
    V = np.zeros(mdp.n_states) if V is None else V
    for _ in range(max_iter):
        Q = r + gamma * mdp.P @ V  # (S, A)
        Q[terminal] = 0.0
        Q_max = Q.max(axis=1)
        V_new = Q_max + np.log(np.exp(Q - Q_max[:, None]).sum(axis=1))  # log-sum-exp
        V_new[terminal] = 0.0
        converged = np.max(np.abs(V_new - V)) < tol
        V = V_new
        if converged:
            break
    else:
        raise RuntimeError(
            f"soft_value_iteration did not converge in {max_iter} iterations (gamma={gamma}); "
            "with gamma = 1 every policy must reach a terminal state"
        )
    Q = r + gamma * mdp.P @ V
    Q[terminal] = 0.0
    policy = np.exp(Q - V[:, None])
    policy[terminal] = 1.0 / mdp.n_actions
    return V, Q, policy / policy.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------------------------------------
# Feature expectations
# ---------------------------------------------------------------------------------------------


def trajectory_features(
    mdp: TabularMDP, features: np.ndarray, trajectory: Trajectory, gamma: float
) -> np.ndarray:
    """Discounted feature sum ``sum_t gamma^t phi(s_t, a_t)`` of one trajectory: (F,)."""
    phi = feature_table(mdp, features)
    (steps,) = check_trajectories(mdp, [trajectory], name="trajectory")
    return _discounted_sum(mdp, phi, steps, check_gamma(gamma), len(steps))


def _discounted_sum(
    mdp: TabularMDP, phi: np.ndarray, steps: np.ndarray, gamma: float, horizon: int
) -> np.ndarray:
    steps = steps[:horizon]
    live = ~mdp.terminal[steps[:, 0]]  # terminal states are worth nothing
    discounts = gamma ** np.arange(len(steps)) * live
    return discounts @ phi[steps[:, 0], steps[:, 1]]


def feature_expectations(
    mdp: TabularMDP,
    features: np.ndarray,
    policy_or_trajectories: np.ndarray | Sequence[Trajectory],
    gamma: float,
    horizon: int,
    initial: np.ndarray | None = None,
) -> np.ndarray:
    """Discounted feature expectations ``mu = E[sum_{t<horizon} gamma^t phi(s_t, a_t)]``: (F,).

    Given a policy (an (S, A) array of probabilities) the expectation is exact: the state
    distribution ``d_t`` starts at ``initial`` (default ``mdp.initial``) and moves by
    ``d_{t+1}(s') = sum_{s, a} d_t(s) pi(a|s) P(s'|s, a)``, stopping in terminal states. Given
    trajectories it is their average discounted feature sum.
    """
    mdp = _check_mdp(mdp)
    gamma = check_gamma(gamma)
    horizon = check_int("horizon", horizon)
    phi = feature_table(mdp, features)
    if isinstance(policy_or_trajectories, np.ndarray) and policy_or_trajectories.ndim == 2:
        policy = policy_or_trajectories
        if policy.shape != (mdp.n_states, mdp.n_actions):
            raise ValueError(
                f"policy must have shape (n_states, n_actions) = "
                f"{(mdp.n_states, mdp.n_actions)}, got {policy.shape}"
            )
        d = mdp.initial if initial is None else np.asarray(initial, dtype=np.float64)
        mu = np.zeros(phi.shape[-1])
        for t in range(horizon):
            state_action = d[:, None] * policy  # (S, A): Pr(s_t = s, a_t = a)
            state_action[mdp.terminal] = 0.0
            mu += gamma**t * np.einsum("sa,saf->f", state_action, phi)
            d = np.einsum("sa,sat->t", state_action, mdp.P)
        return mu
    trajectories = check_trajectories(mdp, policy_or_trajectories)
    return np.mean([_discounted_sum(mdp, phi, s, gamma, horizon) for s in trajectories], axis=0)


# ---------------------------------------------------------------------------------------------
# Demonstrations
# ---------------------------------------------------------------------------------------------


def sample_trajectories(
    mdp: TabularMDP, policy: np.ndarray, n: int, horizon: int, seed: int
) -> list[np.ndarray]:
    """``n`` trajectories of ``policy`` from ``mdp.initial``: each a (T, 2) array of (s, a).

    A trajectory stops after ``horizon`` steps or on entering a terminal state.
    """
    mdp = _check_mdp(mdp)
    n, horizon = check_int("n", n), check_int("horizon", horizon)
    rng = np.random.default_rng(check_int("seed", seed, low=0))
    trajectories = []
    for _ in range(n):
        s = int(rng.choice(mdp.n_states, p=mdp.initial))
        steps = []
        for _ in range(horizon):
            if mdp.terminal[s]:
                break
            a = int(rng.choice(mdp.n_actions, p=policy[s]))
            steps.append((s, a))
            s = int(rng.choice(mdp.n_states, p=mdp.P[s, a]))
        trajectories.append(np.array(steps, dtype=np.int64).reshape(-1, 2))
    return trajectories


# ---------------------------------------------------------------------------------------------
# MaxEnt IRL
# ---------------------------------------------------------------------------------------------


def maxent_gradient(
    mdp: TabularMDP,
    features: np.ndarray,
    theta: np.ndarray,
    expert_features: np.ndarray,
    gamma: float,
    horizon: int,
    initial: np.ndarray,
) -> np.ndarray:
    """``mu_expert - mu_theta``: the gradient of the demonstrations' log-likelihood in ``theta``."""
    phi = feature_table(mdp, features)
    _, _, policy = soft_value_iteration(mdp, phi @ theta, gamma)
    return expert_features - feature_expectations(mdp, phi, policy, gamma, horizon, initial)


#: soft values need not be exact for a gradient step; each step starts from the last values
_IRL_TOL = 1e-6


def maxent_irl(
    mdp: TabularMDP,
    features: np.ndarray,
    demonstrations: Sequence[Trajectory],
    gamma: float,
    horizon: int | None = None,
    learning_rate: float = 0.05,
    n_iters: int = 200,
    l2: float = 0.0,
) -> np.ndarray:
    """Maximum-entropy IRL: reward weights ``theta`` (F,) with ``reward = features @ theta``.

    Gradient ascent on the demonstrations' log-likelihood, ``theta += learning_rate *
    (mu_expert - mu_theta - l2 * theta)``, starting from ``theta = 0`` (the uniform policy).
    ``mu_theta`` starts from the demonstrations' own start states and runs ``horizon`` steps
    (default: the longest demonstration). Deterministic: no randomness is drawn.
    """
    mdp = _check_mdp(mdp)
    gamma = check_gamma(gamma)
    phi = feature_table(mdp, features)
    demos = check_trajectories(mdp, demonstrations)
    horizon = max(len(d) for d in demos) if horizon is None else check_int("horizon", horizon)
    learning_rate = check_float("learning_rate", learning_rate, 0.0, low_open=True)
    n_iters = check_int("n_iters", n_iters)
    l2 = check_float("l2", l2, 0.0)
    initial = np.bincount([d[0, 0] for d in demos], minlength=mdp.n_states) / len(demos)
    expert = feature_expectations(mdp, phi, demos, gamma, horizon)
    theta = np.zeros(phi.shape[-1])
    V = None
    for _ in range(n_iters):
        # the soft-optimal policy for the current theta (warm-started: theta moves a little)
        V, _, policy = _soft_value_iteration(mdp, phi @ theta, gamma, _IRL_TOL, 10_000, V)
        mu_theta = feature_expectations(mdp, phi, policy, gamma, horizon, initial)
        gradient = expert - mu_theta  # = maxent_gradient(...)
        theta = theta + learning_rate * (gradient - l2 * theta)
    return theta


# ---------------------------------------------------------------------------------------------
# Preferences over trajectories (T-REX)
# ---------------------------------------------------------------------------------------------


def trajectory_preference_loss(
    theta: np.ndarray, winner_features: np.ndarray, loser_features: np.ndarray
) -> float:
    """Mean Bradley-Terry loss ``-log sigmoid(R(tau_w) - R(tau_l))`` over pairs of trajectories.

    ``winner_features`` and ``loser_features`` are (n_pairs, F): each trajectory's discounted
    feature sum (``trajectory_features``), so ``R(tau) = features . theta``. Computed as
    ``log(1 + exp(-margin))`` without overflow.
    """
    winner_features = np.atleast_2d(np.asarray(winner_features, dtype=np.float64))
    loser_features = np.atleast_2d(np.asarray(loser_features, dtype=np.float64))
    if winner_features.shape != loser_features.shape:
        raise ValueError(
            f"winner_features {winner_features.shape} and loser_features "
            f"{loser_features.shape} must have the same shape (n_pairs, F)"
        )
    margin = (winner_features - loser_features) @ np.asarray(theta, dtype=np.float64)
    return float(np.mean(np.logaddexp(0.0, -margin)))


def preference_irl(
    mdp: TabularMDP,
    features: np.ndarray,
    pairs: Sequence[tuple[Trajectory, Trajectory]],
    gamma: float,
    learning_rate: float = 0.5,
    n_iters: int = 500,
    l2: float = 1e-3,
) -> np.ndarray:
    """Reward weights ``theta`` from comparisons: in each pair the first trajectory was preferred.

    Bradley-Terry over discounted returns: minimise the mean of ``-log sigmoid(R(tau_w) -
    R(tau_l))`` + ``l2/2 |theta|^2`` by gradient descent from ``theta = 0``. A reward is only
    identified up to scale here too; ``l2`` keeps it finite when the pairs are separable.
    """
    mdp = _check_mdp(mdp)
    gamma = check_gamma(gamma)
    phi = feature_table(mdp, features)
    if len(pairs) == 0:
        raise ValueError("pairs is empty: need at least one comparison")
    winners = check_trajectories(mdp, [w for w, _ in pairs], name="pairs (preferred)")
    losers = check_trajectories(mdp, [lo for _, lo in pairs], name="pairs (rejected)")
    learning_rate = check_float("learning_rate", learning_rate, 0.0, low_open=True)
    n_iters = check_int("n_iters", n_iters)
    l2 = check_float("l2", l2, 0.0)
    diff = np.array(
        [
            _discounted_sum(mdp, phi, w, gamma, len(w))
            - _discounted_sum(mdp, phi, lo, gamma, len(lo))
            for w, lo in zip(winners, losers)
        ]
    )  # (n_pairs, F)
    theta = np.zeros(phi.shape[-1])
    for _ in range(n_iters):
        margin = diff @ theta
        p_wrong = 1.0 / (1.0 + np.exp(margin))  # 1 - sigmoid(margin)
        gradient = -(p_wrong[:, None] * diff).mean(axis=0) + l2 * theta
        theta = theta - learning_rate * gradient
    return theta


# ---------------------------------------------------------------------------------------------
# How good is a recovered reward?
# ---------------------------------------------------------------------------------------------


def optimal_fraction(mdp: TabularMDP, reward: np.ndarray, gamma: float) -> float:
    """``V_true(pi_hat) / V_true(pi*)`` at the start: how well the optimal policy ``pi_hat`` for a
    recovered ``reward`` ((S,) or (S, A)) does under ``mdp``'s true reward (1.0: optimal).

    A reward is identified only up to shift and scale, and many rewards share an optimal policy;
    this asks the question that matters: does acting on the recovered reward do what the expert
    wanted? The ratio needs a positive optimum (true on ``colour_gridworld``, whose goals pay).
    """
    mdp = _check_mdp(mdp)
    gamma = check_gamma(gamma)
    recovered = TabularMDP(mdp.P, reward_table(mdp, reward), mdp.terminal, initial=mdp.initial)
    _, policy_hat = value_iteration(recovered, gamma)
    V_star, _ = value_iteration(mdp, gamma)
    best = start_value(mdp, V_star)
    if best <= 0:
        raise ValueError(f"the optimal start value is {best:.4g}; the fraction needs it > 0")
    return start_value(mdp, policy_evaluation(mdp, policy_hat, gamma)) / best


def sample_trajectory_pairs(
    mdp: TabularMDP,
    features: np.ndarray,
    theta: np.ndarray,
    n: int,
    horizon: int,
    gamma: float,
    seed: int,
    scales: Sequence[float] = (0.0, 0.1, 0.3, 1.0),
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n`` labelled comparisons ``(preferred, rejected)`` of trajectories, as T-REX uses.

    Each trajectory comes from a soft-optimal policy for ``scale * features @ theta`` with a
    scale drawn from ``scales`` (0: a random walker, 1: the expert), so the pairs span good and
    bad behaviour. A simulated person prefers ``tau_1`` with the Bradley-Terry probability
    ``sigmoid(R(tau_1) - R(tau_2))`` of their true discounted returns ``R = trajectory_features .
    theta``. Draws, in order, per pair: the two scales, each trajectory's seed, the label.
    """
    mdp = _check_mdp(mdp)
    gamma = check_gamma(gamma)
    phi = feature_table(mdp, features)
    theta = np.asarray(theta, dtype=np.float64)
    if theta.shape != (phi.shape[-1],):
        raise ValueError(f"theta must have shape ({phi.shape[-1]},), got {theta.shape}")
    n, horizon = check_int("n", n), check_int("horizon", horizon)
    rng = np.random.default_rng(check_int("seed", seed, low=0))
    policies = [soft_value_iteration(mdp, scale * phi @ theta, gamma)[2] for scale in scales]
    pairs = []
    for _ in range(n):
        first, second = (
            sample_trajectories(mdp, policies[i], 1, horizon, int(rng.integers(2**31)))[0]
            for i in rng.choice(len(policies), 2)
        )
        returns = [trajectory_features(mdp, phi, t, gamma) @ theta for t in (first, second)]
        prefer_first = rng.random() < 1.0 / (1.0 + np.exp(returns[1] - returns[0]))
        pairs.append((first, second) if prefer_first else (second, first))
    return pairs
