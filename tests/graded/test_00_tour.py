"""Graded tests of module 00 (tour): exercises 0.1 to 0.6.

0.1 ``estimate_success_rate``, 0.2 ``rollout_episode``, 0.3 ``returns_from_rewards``,
0.4 ``lookahead_values``, 0.5 ``greedy_actions``, 0.6 ``estimate_value``. Each test says what it checks and the likely
bug (``checks=``/``hint=`` in its marker, ``given``/``failure`` inside; see course/AUTHORING.md).
"""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.envs.toy_text.frozen_lake import generate_random_map

from rlhf_edu.envs.episodes import estimate_value as reference_estimate_value
from rlhf_edu.envs.episodes import greedy_actions as reference_greedy
from rlhf_edu.envs.episodes import lookahead_values as reference_lookahead
from rlhf_edu.envs.episodes import returns_from_rewards as reference_returns
from rlhf_edu.envs.episodes import rollout_episode as reference_rollout
from rlhf_edu.envs.evaluation import estimate_success_rate as reference_estimate
from rlhf_edu.grading.selfcheck import failure, given

LEFT, DOWN, RIGHT, UP = range(4)
#: On the calm 4x4 lake: 0 -> 1 -> 2 -> 6 -> 10 -> 14 -> 15 (the goal).
PLAN = {0: RIGHT, 1: RIGHT, 2: DOWN, 6: DOWN, 10: DOWN, 14: RIGHT}


def table_policy(actions: np.ndarray):
    """A deterministic policy from a table ``actions[state]``."""
    return lambda observation: int(actions[observation])


def seeded_random_policy(n_actions: int, seed: int):
    """Uniformly random actions from the policy's own generator (a fresh one per call)."""
    rng = np.random.default_rng(seed)
    return lambda observation: int(rng.integers(n_actions))


def random_frozen_lake(rng: np.random.Generator, **kwargs) -> gym.Env:
    size = int(rng.integers(3, 5))
    desc = generate_random_map(size=size, p=0.9, seed=int(rng.integers(2**31)))
    return gym.make("FrozenLake-v1", desc=desc, is_slippery=bool(rng.integers(4) > 0), **kwargs)


def describe_lake(env: gym.Env) -> str:
    lake = env.unwrapped
    size = lake.desc.shape[0]
    ice = "slippery" if lake.P[0][0] and len(lake.P[0][0]) > 1 else "calm"
    rows = "/".join("".join(row) for row in lake.desc.astype(str))
    return f"a {size}x{size} {ice} lake {rows}"


def random_policy_case(rng: np.random.Generator, n_states: int):
    """``(make_policy, words)``: a fresh copy of a random table or seeded random policy."""
    if rng.random() < 0.5:
        actions = rng.integers(0, 4, size=n_states)
        return (lambda: table_policy(actions)), f"the table policy {actions.tolist()}"
    policy_seed = int(rng.integers(2**31))
    return (lambda: seeded_random_policy(4, policy_seed)), f"a random policy (seed {policy_seed})"


# --- 0.1 estimate_success_rate --------------------------------------------------------------


@pytest.mark.graded(
    exercise="0.1",
    points=1,
    checks="the success rate equals the reference's on random lakes, policies and seeds",
    hint="reset episode i with env.reset(seed=seed + i), stop at `terminated or truncated`, "
    "count a success when the last reward is > 0, divide by n_episodes",
)
def test_success_rate_matches_reference_on_random_lakes_policies_and_seeds(solution, graded_rng):
    informative = 0  # cases whose answer is strictly between 0 and 1 (a wrong loop shows there)
    for _ in range(40):
        env = random_frozen_lake(graded_rng)
        n_episodes = int(graded_rng.integers(5, 40))
        seed = int(graded_rng.integers(0, 10_000))
        make_policy, policy_words = random_policy_case(graded_rng, env.observation_space.n)
        given(f"{describe_lake(env)}, {policy_words}, n_episodes={n_episodes}, seed={seed}")
        want = reference_estimate(env, make_policy(), n_episodes, seed)
        got = solution.estimate_success_rate(env, make_policy(), n_episodes, seed)
        assert got == pytest.approx(want, abs=1e-12), f"got {got}, expected {want}"
        informative += 0 < want < 1
        if informative == 4:
            break
    assert informative >= 1


@pytest.mark.graded(
    exercise="0.1",
    points=1,
    checks="a sure path succeeds always, a stuck policy never, n_episodes < 1 raises",
    hint="an episode ends at `terminated or truncated` (the 100-step limit too)",
)
def test_success_rate_is_one_for_a_sure_path_zero_for_a_stuck_policy_and_checks_n(
    solution, graded_rng
):
    calm = gym.make("FrozenLake-v1", map_name="4x4", is_slippery=False)
    n_episodes = int(graded_rng.integers(1, 20))
    seed = int(graded_rng.integers(0, 10_000))
    given(f"the calm 4x4 lake, the path 0-1-2-6-10-14-15, n_episodes={n_episodes}, seed={seed}")
    sure = solution.estimate_success_rate(calm, lambda s: PLAN.get(s, 0), n_episodes, seed)
    assert sure == pytest.approx(1.0), failure(
        f"got {sure}: a path that always reaches the goal has success rate 1",
        "count a success when the episode's last reward is > 0",
    )
    given(f"the calm 4x4 lake, 'always left' (never moves), n_episodes={n_episodes}, seed={seed}")
    stuck = solution.estimate_success_rate(calm, lambda s: LEFT, n_episodes, seed)
    assert stuck == pytest.approx(0.0), failure(
        f"got {stuck}: walking into the wall until the time limit never succeeds",
        "an episode that is truncated at the time limit without reward is a failure",
    )
    # A fraction of n episodes: a multiple of 1/n between 0 and 1.
    given(f"the slippery 4x4 lake, the same path, n_episodes=30, seed={seed}")
    slippery = gym.make("FrozenLake-v1", map_name="4x4", is_slippery=True)
    rate = solution.estimate_success_rate(slippery, lambda s: PLAN.get(s, 0), 30, seed)
    assert 0.0 <= rate <= 1.0 and abs(rate * 30 - round(rate * 30)) < 1e-9, failure(
        f"got {rate}, not a multiple of 1/30 in [0, 1]", "divide the successes by n_episodes"
    )
    for bad in (0, -3):
        given(f"n_episodes={bad}")
        with pytest.raises(ValueError):
            solution.estimate_success_rate(calm, lambda s: 0, bad, seed)


# --- 0.2 rollout_episode --------------------------------------------------------------------


@pytest.mark.graded(
    exercise="0.2",
    points=1,
    checks="states, actions and rewards equal the reference's on random lakes and policies",
    hint="reset once with env.reset(seed=seed); per step: action = policy(observation), "
    "env.step(action), then append the action, the reward and the new state",
)
def test_rollout_matches_reference_on_random_lakes_and_policies(solution, graded_rng):
    for _ in range(6):
        env = random_frozen_lake(graded_rng)
        seed = int(graded_rng.integers(0, 10_000))
        make_policy, policy_words = random_policy_case(graded_rng, env.observation_space.n)
        given(f"{describe_lake(env)}, {policy_words}, seed={seed}")
        want = reference_rollout(env, make_policy(), seed)
        states, actions, rewards = solution.rollout_episode(env, make_policy(), seed)
        got = ([int(s) for s in states], [int(a) for a in actions], [float(r) for r in rewards])
        if len(got[0]) == len(got[1]):
            hint = "keep the final state: states has one entry more than actions"
        elif got[0][:-1] == want[0][1:]:
            hint = "states[0] must be the state of env.reset, before the first step"
        else:
            hint = "compare with the reference's lists (run with -v)"
        assert got == want, failure(f"(states, actions, rewards) = {got}, expected {want}", hint)


@pytest.mark.graded(
    exercise="0.2",
    points=1,
    checks="rewards[t] follows actions[t] (R_{t+1}) on a path to the goal; lengths T+1, T, T",
    hint="rewards[t] is the reward returned by the step that took actions[t] in states[t]",
)
def test_rollout_follows_the_reward_index_convention(solution, graded_rng):
    calm = gym.make("FrozenLake-v1", map_name="4x4", is_slippery=False)
    P = calm.unwrapped.P
    seed = int(graded_rng.integers(0, 10_000))
    given(f"the calm 4x4 lake, the path 0-1-2-6-10-14-15 to the goal, seed={seed}")
    states, actions, rewards = solution.rollout_episode(calm, lambda s: PLAN.get(s, 0), seed)
    assert len(states) == len(actions) + 1 == len(rewards) + 1, failure(
        f"{len(states)} states, {len(actions)} actions, {len(rewards)} rewards",
        "states = [S_0, ..., S_T] has T + 1 entries (keep the final state); actions and rewards T",
    )
    assert list(states) == [0, 1, 2, 6, 10, 14, 15], f"states {list(states)}"
    assert [float(r) for r in rewards] == [0.0] * 5 + [1.0], failure(
        f"rewards {list(rewards)}, expected [0, 0, 0, 0, 0, 1]",
        "the goal's reward belongs to the last step: rewards[t] = R_{t+1}, not R_t",
    )
    for t, (s, a) in enumerate(zip(states[:-1], actions)):
        assert a == PLAN[s], f"actions[{t}] = {a} in state {s}: the policy chose {PLAN[s]}"
        _, s_next, reward, _ = P[s][a][0]
        assert (states[t + 1], rewards[t]) == (s_next, reward), failure(
            f"step {t}: states[t+1], rewards[t] = {states[t + 1]}, {rewards[t]}; "
            f"expected {s_next}, {reward}",
            "states[t + 1] and rewards[t] both come from the step that took actions[t]",
        )


@pytest.mark.graded(
    exercise="0.2",
    points=1,
    checks="the policy sees the current state, and a time limit ends the episode",
    hint="call policy(observation) with the latest observation; stop at `terminated or "
    "truncated` (a TimeLimit truncates)",
)
def test_rollout_calls_the_policy_on_the_current_state_and_stops_at_the_time_limit(
    solution, graded_rng
):
    limit = int(graded_rng.integers(3, 12))
    seed = int(graded_rng.integers(0, 10_000))
    lake = gym.make("FrozenLake-v1", map_name="4x4", is_slippery=True, max_episode_steps=limit)
    # Walk into the nearest wall: left or up only, so the agent never leaves the top-left corner
    # area unless the ice slides it (then it may fall into a hole and end early).
    actions_table = graded_rng.choice([LEFT, UP], size=16)
    given(
        f"the slippery 4x4 lake with a {limit}-step limit, the table policy "
        f"{actions_table.tolist()}, seed={seed}"
    )
    states, actions, rewards = solution.rollout_episode(lake, table_policy(actions_table), seed)
    want = reference_rollout(lake, table_policy(actions_table), seed)
    assert len(actions) <= limit, failure(
        f"{len(actions)} steps with a {limit}-step limit", "stop when `truncated` is True too"
    )
    for t, (s, a) in enumerate(zip(states, actions)):
        assert a == actions_table[s], failure(
            f"actions[{t}] = {a} in states[{t}] = {s}; the policy says {actions_table[s]}",
            "call policy(observation) on the state the action is taken in",
        )
    assert len(actions) == len(want[1]), f"{len(actions)} steps, expected {len(want[1])}"


# --- 0.3 returns_from_rewards ---------------------------------------------------------------


@pytest.mark.graded(
    exercise="0.3",
    points=1,
    checks="the returns equal the reference's on random reward lists and discounts",
    hint="loop backwards: G = rewards[t] + gamma * G, then returns[t] = G",
)
def test_returns_match_reference_on_random_reward_lists(solution, graded_rng):
    for case in range(8):
        T = int(graded_rng.integers(1, 30))
        rewards = graded_rng.normal(size=T).round(3)
        gamma = [0.0, 1.0][case] if case < 2 else float(graded_rng.uniform(0.5, 0.999))
        given(f"{T} rewards {rewards.tolist()}, gamma={gamma:.4g}")
        want = reference_returns(rewards, gamma)
        got = np.asarray(solution.returns_from_rewards(rewards.tolist(), gamma), dtype=float)
        assert got.shape == want.shape, f"shape {got.shape}, expected {want.shape}"
        if T > 1 and np.allclose(got, reference_returns(rewards, gamma)[::-1]):
            hint = "the returns come out reversed: returns[t] must be G_t"
        elif T > 1 and np.allclose(got, np.cumsum(gamma ** np.arange(T) * rewards)):
            hint = "returns[t] sums the rewards after step t, not before it"
        else:
            hint = "returns[t] = rewards[t] + gamma * returns[t + 1], with 0 after the last step"
        assert np.allclose(got, want, atol=1e-9), failure(
            f"returns {got.round(4).tolist()}, expected {want.round(4).tolist()}", hint
        )


@pytest.mark.graded(
    exercise="0.3",
    points=1,
    checks="a single final reward gives G_0 = gamma^(T-1); gamma outside [0, 1] raises",
    hint="the first reward is not discounted: G_0 = rewards[0] + gamma * rewards[1] + ...",
)
def test_returns_do_not_discount_the_first_reward_and_check_gamma(solution, graded_rng):
    T = int(graded_rng.integers(2, 15))
    gamma = float(graded_rng.uniform(0.5, 0.95))
    rewards = [0.0] * (T - 1) + [1.0]
    given(f"{T - 1} zeros then a reward of 1 (a success after T={T} steps), gamma={gamma:.4g}")
    got = np.asarray(solution.returns_from_rewards(rewards, gamma), dtype=float)
    want = gamma ** np.arange(T - 1, -1, -1)
    if np.allclose(got, gamma * want):
        hint = "every return is a factor gamma too small: the first reward has weight gamma^0 = 1"
    else:
        hint = "returns[t] = gamma^(T-1-t) here: the last step's return is its reward, 1"
    assert np.allclose(got, want, atol=1e-9), failure(
        f"returns {got.round(4).tolist()}, expected {want.round(4).tolist()}", hint
    )
    for bad in (1.5, -0.1):
        given(f"gamma={bad}")
        with pytest.raises(ValueError):
            solution.returns_from_rewards(rewards, bad)


# --- 0.4 lookahead_values -------------------------------------------------------------------


def random_transition_table(rng: np.random.Generator) -> dict:
    """A small random MDP in FrozenLake's format: P[s][a] = [(prob, s_next, reward, terminated)]."""
    n_states, n_actions = int(rng.integers(2, 7)), int(rng.integers(2, 5))
    P = {}
    for s in range(n_states):
        P[s] = {}
        for a in range(n_actions):
            k = int(rng.integers(1, 4))
            probs = rng.dirichlet(np.ones(k)).round(6)
            probs[-1] = 1.0 - probs[:-1].sum()
            P[s][a] = [
                (
                    float(p),
                    int(rng.integers(n_states)),
                    round(float(rng.normal()), 3),
                    bool(rng.random() < 0.3),
                )
                for p in probs
            ]
    return P


@pytest.mark.graded(
    exercise="0.4",
    points=1,
    checks="Q equals the reference's on random lakes and random small MDPs, random V and gamma",
    hint="Q[s, a] = sum over P[s][a] of prob * (reward + gamma * V[s_next]), V[s_next] as 0 "
    "when terminated; n_states = len(P), n_actions = len(P[0])",
)
def test_lookahead_matches_reference_on_random_lakes_and_mdps(solution, graded_rng):
    for case in range(6):
        if case % 2 == 0:
            env = random_frozen_lake(graded_rng)
            P, words = env.unwrapped.P, describe_lake(env)
        else:
            P = random_transition_table(graded_rng)
            words = f"a random MDP with {len(P)} states and {len(P[0])} actions"
        V = graded_rng.uniform(-1.0, 1.0, size=len(P)).round(3)
        gamma = float(graded_rng.uniform(0.5, 1.0))
        given(f"{words}, random V, gamma={gamma:.4g}")
        want = reference_lookahead(P, V, gamma)
        got = np.asarray(solution.lookahead_values(P, V, gamma), dtype=float)
        assert got.shape == want.shape, f"Q has shape {got.shape}, expected {want.shape}"
        bootstrapped = reference_lookahead(
            {s: {a: [(p, n, r, False) for p, n, r, _ in P[s][a]] for a in P[s]} for s in P},
            V,
            gamma,
        )
        if not np.allclose(want, bootstrapped) and np.allclose(got, bootstrapped):
            hint = "bootstraps from a terminal state? a terminated outcome adds only its reward"
        else:
            hint = "Q[s, a] = sum of prob * (reward + gamma * V[s_next]) over P[s][a]"
        assert np.allclose(got, want, atol=1e-9), failure(
            f"max |Q - expected| = {np.abs(got - want).max():.4g}", hint
        )


@pytest.mark.graded(
    exercise="0.4",
    points=1,
    checks="terminated outcomes add only their reward, whatever V holds at the hole or goal",
    hint="bootstraps from a terminal state? use 0, not V[s_next], when `terminated` is True",
)
def test_lookahead_does_not_bootstrap_from_terminal_states(solution, graded_rng):
    calm = gym.make("FrozenLake-v1", map_name="4x4", is_slippery=False)
    P = calm.unwrapped.P
    desc = calm.unwrapped.desc.astype(str).ravel()
    gamma = float(graded_rng.uniform(0.5, 1.0))
    V = np.where(np.isin(desc, ["H", "G"]), graded_rng.uniform(10.0, 100.0), 0.0)
    given(
        f"the calm 4x4 lake, V = {V.max():.4g} at the holes and the goal, 0 elsewhere, "
        f"gamma={gamma:.4g}"
    )
    Q = np.asarray(solution.lookahead_values(P, V, gamma), dtype=float)
    assert Q.shape == (16, 4), f"Q has shape {Q.shape}, expected (16, 4)"
    assert Q[14, RIGHT] == pytest.approx(1.0), f"Q[14, right] = {Q[14, RIGHT]:.4g}, expected 1"
    assert Q[1, DOWN] == pytest.approx(0.0), f"Q[1, down] (into a hole) = {Q[1, DOWN]:.4g}"
    assert np.allclose(Q, reference_lookahead(P, V, gamma), atol=1e-9)


# --- 0.5 greedy_actions ---------------------------------------------------------------------


@pytest.mark.graded(
    exercise="0.5",
    points=1,
    checks="the greedy actions equal argmax over actions, ties to the lowest action",
    hint="np.argmax(Q, axis=1): the argmax of each row (state), which takes the first of ties",
)
def test_greedy_actions_match_argmax_with_ties_to_the_lowest_action(solution, graded_rng):
    for _ in range(5):
        n_states, n_actions = int(graded_rng.integers(2, 20)), int(graded_rng.integers(2, 6))
        Q = graded_rng.integers(-2, 3, size=(n_states, n_actions)).astype(float)  # many ties
        given(f"a {n_states}x{n_actions} Q-table with many ties: {Q.tolist()}")
        got = np.asarray(solution.greedy_actions(Q))
        want = reference_greedy(Q)
        assert got.shape == want.shape, f"shape {got.shape}, expected {want.shape} (one per state)"
        if np.array_equal(got, np.asarray(Q).argmax(axis=0)[: len(got)]):
            hint = "the argmax runs over actions (axis=1), one per state"
        elif np.array_equal(got, n_actions - 1 - Q[:, ::-1].argmax(axis=1)):
            hint = "ties go to the lowest action index, not the highest"
        else:
            hint = "argmax over each row of Q"
        assert np.array_equal(got, want), failure(f"{got.tolist()}, expected {want.tolist()}", hint)
        assert np.issubdtype(got.dtype, np.integer), f"dtype {got.dtype}: actions are ints"


# --- 0.6 estimate_value ----------------------------------------------------------------------


@pytest.mark.graded(
    exercise="0.6",
    points=2,
    checks="the mean return and its standard error equal the reference's on random lakes, "
    "policies, discounts and seeds",
    hint="episode i: rollout_episode(env, policy, seed + i); its G_0 = "
    "returns_from_rewards(rewards, gamma)[0]; SE = std(ddof=1) / sqrt(n)",
)
def test_estimate_value_matches_reference_on_random_lakes_policies_and_seeds(solution, graded_rng):
    informative = 0  # cases with some spread in the returns
    for _ in range(30):
        env = random_frozen_lake(graded_rng)
        n_episodes = int(graded_rng.integers(2, 30))
        seed = int(graded_rng.integers(0, 10_000))
        gamma = float(graded_rng.choice([0.5, 0.9, 1.0]))
        make_policy, policy_words = random_policy_case(graded_rng, env.observation_space.n)
        given(f"{describe_lake(env)}, {policy_words}, gamma={gamma}, n_episodes={n_episodes}, "
              f"seed={seed}")  # fmt: skip
        want_mean, want_se = reference_estimate_value(env, make_policy(), gamma, n_episodes, seed)
        got = solution.estimate_value(env, make_policy(), gamma, n_episodes, seed)
        assert len(got) == 2, "return (mean, standard_error)"
        got_mean, got_se = float(got[0]), float(got[1])
        assert got_mean == pytest.approx(want_mean, abs=1e-12), failure(
            f"mean {got_mean:.6g}, expected {want_mean:.6g}",
            "the return of an episode is its discounted G_0 (gamma ** (T - 1) for a success "
            "after T steps), averaged over episodes reset with seed + i",
        )
        ddof0 = want_se * np.sqrt((n_episodes - 1) / n_episodes)
        assert got_se == pytest.approx(want_se, abs=1e-12), failure(
            f"standard error {got_se:.6g}, expected {want_se:.6g}",
            "use the sample standard deviation (ddof=1)"
            if got_se == pytest.approx(ddof0, abs=1e-12) and want_se > 0
            else "the standard error is std(returns, ddof=1) / sqrt(n_episodes), not the std",
        )
        informative += want_se > 0
        if informative == 4:
            break
    assert informative >= 1


@pytest.mark.graded(
    exercise="0.6",
    points=1,
    checks="a sure path gives (gamma ** 5, 0); fewer than two episodes raise ValueError",
    hint="a success after T steps has G_0 = gamma ** (T - 1); n_episodes < 2 has no standard "
    "error: raise ValueError",
)
def test_estimate_value_of_a_sure_path_and_refuses_one_episode(solution, graded_rng):
    calm = gym.make("FrozenLake-v1", map_name="4x4", is_slippery=False)
    gamma = float(graded_rng.uniform(0.5, 0.99))
    n_episodes, seed = int(graded_rng.integers(2, 10)), int(graded_rng.integers(10_000))
    given(f"the calm 4x4 lake, the path 0-1-2-6-10-14-15, gamma={gamma:.3f}, "
          f"n_episodes={n_episodes}")  # fmt: skip
    mean, se = solution.estimate_value(calm, lambda s: PLAN.get(s, 0), gamma, n_episodes, seed)
    assert float(mean) == pytest.approx(gamma**5), failure(
        f"got {float(mean):.6g}, expected gamma ** 5 = {gamma**5:.6g}",
        "the single reward R_6 = 1 is discounted by gamma ** 5 (the first reward by gamma ** 0)",
    )
    assert float(se) == pytest.approx(0.0, abs=1e-12), "identical returns: standard error 0"
    given("the calm 4x4 lake, n_episodes=1")
    with pytest.raises(ValueError):
        solution.estimate_value(calm, lambda s: PLAN.get(s, 0), gamma, 1, seed)
