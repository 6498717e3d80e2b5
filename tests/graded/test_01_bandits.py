"""Graded tests of module 01 (bandits): exercises 1.1-1.9."""

import numpy as np
import pytest

from rlhf_edu.grading.selfcheck import failure, given
from rlhf_edu.tabular import bandits as reference
from rlhf_edu.tabular.bandits import gradient_bandit_update as reference_gradient_update
from rlhf_edu.tabular.bandits import ucb_action as reference_ucb


def epsilon_greedy_rule(epsilon):
    """select_actions for the testbed loop, built from the reference (exercise 1.3's rule)."""
    return lambda Q, N, t, rng: reference.epsilon_greedy_actions(Q, epsilon, rng)


def ucb_rule(c):
    """select_actions for the testbed loop: the reference UCB choice (exercise 1.7's rule)."""
    return lambda Q, N, t, rng: reference.ucb_actions(Q, N, t, c)


def assert_same_curves(got, want, hint):
    assert len(got) == 2, "return (average_reward, optimal_fraction)"
    for name, g, w in zip(("average_reward", "optimal_fraction"), got, want):
        g = np.asarray(g, dtype=np.float64)
        assert g.shape == w.shape, f"{name} must have shape (n_steps,) = {w.shape}, got {g.shape}"
        np.testing.assert_allclose(g, w, atol=1e-9, err_msg=f"{name} differs: {hint}")


@pytest.mark.graded(exercise="1.1", points=1)
def test_epsilon_greedy_with_zero_epsilon_picks_only_greedy_actions_and_breaks_ties(
    solution, graded_rng
):
    n = int(graded_rng.integers(3, 8))
    Q_row = graded_rng.normal(size=n)
    tied = graded_rng.choice(n, size=2, replace=False)
    Q_row[tied] = Q_row.max() + 1.0
    rng = np.random.default_rng(int(graded_rng.integers(2**31)))
    epsilon_greedy = solution.epsilon_greedy  # look the function up once
    picks = [epsilon_greedy(Q_row, 0.0, rng) for _ in range(600)]
    assert set(picks) == set(tied.tolist()), "with epsilon = 0 only (all) greedy actions are chosen"
    assert all(isinstance(a, (int, np.integer)) for a in picks)


@pytest.mark.graded(exercise="1.1", points=2)
def test_epsilon_greedy_explores_with_probability_epsilon(solution, graded_rng):
    n = int(graded_rng.integers(3, 7))
    epsilon = float(graded_rng.uniform(0.2, 0.6))
    Q_row = graded_rng.normal(size=n)
    best = int(Q_row.argmax())
    rng = np.random.default_rng(int(graded_rng.integers(2**31)))
    epsilon_greedy = solution.epsilon_greedy  # look the function up once
    picks = np.array([epsilon_greedy(Q_row, epsilon, rng) for _ in range(6000)])
    freq = np.bincount(picks, minlength=n) / len(picks)
    expected = np.full(n, epsilon / n)
    expected[best] += 1 - epsilon
    np.testing.assert_allclose(freq, expected, atol=0.03)


@pytest.mark.graded(exercise="1.2", points=2)
def test_sample_average_update_gives_the_running_mean(solution, graded_rng):
    k = int(graded_rng.integers(2, 6))
    Q, N = np.zeros(k), np.zeros(k)
    rewards = {a: [] for a in range(k)}
    for _ in range(60):
        a = int(graded_rng.integers(k))
        r = float(graded_rng.normal())
        rewards[a].append(r)
        solution.sample_average_update(Q, N, a, r)
    for a in range(k):
        assert N[a] == len(rewards[a])
        assert Q[a] == pytest.approx(np.mean(rewards[a]) if rewards[a] else 0.0, abs=1e-9)


@pytest.mark.graded(exercise="1.6", points=2)
def test_ucb_action_matches_reference(solution, graded_rng):
    for _ in range(50):
        k = int(graded_rng.integers(2, 8))
        Q = graded_rng.normal(size=k)
        N = graded_rng.integers(0 if graded_rng.random() < 0.3 else 1, 20, size=k).astype(float)
        t = int(N.sum()) + 1
        c = float(graded_rng.uniform(0, 3))
        assert solution.ucb_action(Q, N, t, c) == reference_ucb(Q, N, t, c), (Q, N, t, c)


@pytest.mark.graded(exercise="1.8", points=3)
def test_gradient_bandit_update_matches_reference(solution, graded_rng):
    for _ in range(20):
        k = int(graded_rng.integers(2, 8))
        H = graded_rng.normal(size=k)
        H_ref = H.copy()
        a, r, baseline = (
            int(graded_rng.integers(k)),
            float(graded_rng.normal()),
            float(graded_rng.normal()),
        )
        alpha = float(graded_rng.uniform(0.01, 0.5))
        solution.gradient_bandit_update(H, a, r, baseline, alpha)
        reference_gradient_update(H_ref, a, r, baseline, alpha)
        np.testing.assert_allclose(H, H_ref, atol=1e-10)


@pytest.mark.graded(exercise="1.3", points=1)
def test_epsilon_greedy_actions_match_the_reference_draw_for_draw(solution, graded_rng):
    for _ in range(10):
        n_runs, k = int(graded_rng.integers(1, 30)), int(graded_rng.integers(2, 8))
        Q = graded_rng.integers(-2, 3, size=(n_runs, k)).astype(float)  # many ties
        epsilon = float(graded_rng.uniform(0, 1))
        seed = int(graded_rng.integers(2**31))
        got = solution.epsilon_greedy_actions(Q, epsilon, np.random.default_rng(seed))
        want = reference.epsilon_greedy_actions(Q, epsilon, np.random.default_rng(seed))
        np.testing.assert_array_equal(
            np.asarray(got), want, err_msg="draw order: ties (n_runs, k), explore (n_runs,), arms"
        )


@pytest.mark.graded(exercise="1.3", points=1)
def test_epsilon_greedy_actions_explore_with_probability_epsilon_and_share_ties(
    solution, graded_rng
):
    k = int(graded_rng.integers(3, 7))
    epsilon = float(graded_rng.uniform(0.2, 0.5))
    Q = np.zeros((4000, k))
    Q[:, :2] = 1.0  # arms 0 and 1 tie for the best in every run
    rng = np.random.default_rng(int(graded_rng.integers(2**31)))
    actions = np.asarray(solution.epsilon_greedy_actions(Q, epsilon, rng))
    assert actions.shape == (4000,), f"one arm per run: shape (4000,), got {actions.shape}"
    freq = np.bincount(actions, minlength=k) / len(actions)
    expected = np.full(k, epsilon / k)
    expected[:2] += (1 - epsilon) / 2
    np.testing.assert_allclose(
        freq, expected, atol=0.035, err_msg="ties always broken toward arm 0? or wrong epsilon?"
    )


@pytest.mark.graded(exercise="1.4", points=1)
def test_update_action_values_gives_each_run_its_running_mean(solution, graded_rng):
    n_runs, k = int(graded_rng.integers(2, 6)), int(graded_rng.integers(2, 5))
    Q, N = np.zeros((n_runs, k)), np.zeros((n_runs, k))
    Q_ref, N_ref = Q.copy(), N.copy()
    for _ in range(30):
        actions = graded_rng.integers(k, size=n_runs)
        rewards = graded_rng.normal(size=n_runs)
        solution.update_action_values(Q, N, actions, rewards, None)
        reference.update_action_values(Q_ref, N_ref, actions, rewards, None)
    np.testing.assert_allclose(N, N_ref, err_msg="N[i, actions[i]] += 1 for each run i only")
    np.testing.assert_allclose(
        Q, Q_ref, atol=1e-10, err_msg="Q[:, actions] updates every run with every arm: index rows"
    )


@pytest.mark.graded(exercise="1.4", points=1)
def test_update_action_values_with_constant_alpha(solution, graded_rng):
    n_runs, k = int(graded_rng.integers(2, 6)), int(graded_rng.integers(2, 5))
    alpha = float(graded_rng.uniform(0.05, 0.9))
    Q = graded_rng.normal(size=(n_runs, k))
    N = graded_rng.integers(0, 5, size=(n_runs, k)).astype(float)
    Q_ref, N_ref = Q.copy(), N.copy()
    actions = graded_rng.integers(k, size=n_runs)
    rewards = graded_rng.normal(size=n_runs)
    solution.update_action_values(Q, N, actions, rewards, alpha)
    reference.update_action_values(Q_ref, N_ref, actions, rewards, alpha)
    np.testing.assert_allclose(Q, Q_ref, atol=1e-10, err_msg="step = alpha when alpha is given")
    np.testing.assert_allclose(N, N_ref, err_msg="N still counts the pulls")


@pytest.mark.graded(exercise="1.5", points=2)
def test_testbed_loop_matches_the_reference_with_seeded_epsilon_greedy(solution, graded_rng):
    n_runs, n_steps = int(graded_rng.integers(20, 60)), int(graded_rng.integers(50, 120))
    seed = int(graded_rng.integers(10_000))
    epsilon = float(graded_rng.uniform(0.05, 0.3))
    got = solution.bandit_testbed_loop(epsilon_greedy_rule(epsilon), n_runs, n_steps, seed)
    want = reference.bandit_testbed_loop(epsilon_greedy_rule(epsilon), n_runs, n_steps, seed)
    assert_same_curves(
        got,
        want,
        "BanditTestbed(k=k, n_runs=n_runs, seed=seed, mean=q_star_mean) and one "
        "rng = default_rng((seed, 1)) created before the loop? % optimal against "
        "testbed.optimal_action?",
    )


@pytest.mark.graded(exercise="1.5", points=1)
def test_testbed_loop_passes_a_1_based_step_to_ucb(solution, graded_rng):
    n_runs, n_steps = int(graded_rng.integers(20, 50)), int(graded_rng.integers(30, 80))
    seed, c = int(graded_rng.integers(10_000)), float(graded_rng.uniform(0.5, 3))
    got = solution.bandit_testbed_loop(ucb_rule(c), n_runs, n_steps, seed)
    want = reference.bandit_testbed_loop(ucb_rule(c), n_runs, n_steps, seed)
    assert_same_curves(got, want, "t must run 1..n_steps (UCB takes ln t)")


@pytest.mark.graded(exercise="1.5", points=1)
def test_testbed_loop_with_optimism_constant_alpha_and_other_k(solution, graded_rng):
    n_runs, n_steps = int(graded_rng.integers(20, 50)), int(graded_rng.integers(30, 80))
    seed, k = int(graded_rng.integers(10_000)), int(graded_rng.integers(3, 8))
    options = dict(k=k, initial_value=5.0, alpha=0.1, q_star_mean=float(graded_rng.normal()))
    got = solution.bandit_testbed_loop(epsilon_greedy_rule(0.0), n_runs, n_steps, seed, **options)
    want = reference.bandit_testbed_loop(epsilon_greedy_rule(0.0), n_runs, n_steps, seed, **options)
    assert_same_curves(got, want, "use k, initial_value, alpha and q_star_mean as given")


@pytest.mark.graded(exercise="1.5", points=1)
def test_testbed_loop_draws_from_one_generator_across_steps(solution, graded_rng):
    k, seed = 10, int(graded_rng.integers(10_000))
    uniform_rule = lambda Q, N, t, rng: rng.integers(k, size=Q.shape[0])  # noqa: E731
    got = solution.bandit_testbed_loop(uniform_rule, 400, 60, seed)
    want = reference.bandit_testbed_loop(uniform_rule, 400, 60, seed)
    optimal = np.asarray(got[1], dtype=np.float64)
    assert abs(optimal.mean() - 0.1) < 0.03, "random arms should be optimal about 1/k of the time"
    assert_same_curves(got, want, "a new generator at every step repeats the same draws")


@pytest.mark.graded(exercise="1.7", points=2)
def test_ucb_actions_match_the_single_run_rule_row_by_row(solution, graded_rng):
    for _ in range(10):
        n_runs, k = int(graded_rng.integers(1, 20)), int(graded_rng.integers(2, 8))
        Q = graded_rng.normal(size=(n_runs, k))
        N = graded_rng.integers(0, 6, size=(n_runs, k)).astype(float)
        t, c = int(N.sum(axis=1).max()) + 1, float(graded_rng.uniform(0, 3))
        got = np.asarray(solution.ucb_actions(Q, N, t, c))
        want = [reference_ucb(Q[i], N[i], t, c) for i in range(n_runs)]
        np.testing.assert_array_equal(
            got, want, err_msg="untried arms first (lowest index), then argmax of the bound"
        )


# 1.9 the gradient bandit on the testbed --------------------------------------------------------
def _gradient_testbed_variant(n_runs, n_steps, seed, alpha, baseline, k, q_star_mean, *, lagged):
    """A classic slip, for the failure message: the baseline updated after H (R-bar_{t-1})."""
    testbed = reference.BanditTestbed(k=k, n_runs=n_runs, seed=seed, mean=q_star_mean)
    rng = np.random.default_rng((seed, 1))
    runs, H, average = np.arange(n_runs), np.zeros((n_runs, k)), np.zeros(n_runs)
    rewards_per_step = np.zeros(n_steps)
    for t in range(n_steps):
        pi = reference.softmax(H)
        actions = (pi.cumsum(axis=1) > rng.random((n_runs, 1))).argmax(axis=1)
        rewards = testbed.pull(actions)
        if not lagged:
            average += (rewards - average) / (t + 1)
        one_hot = np.zeros((n_runs, k))
        one_hot[runs, actions] = 1.0
        H += alpha * (rewards - (average if baseline else 0.0))[:, None] * (one_hot - pi)
        if lagged:
            average += (rewards - average) / (t + 1)
        rewards_per_step[t] = rewards.mean()
    return rewards_per_step


def _check_gradient_testbed(solution, n_runs, n_steps, seed, alpha, baseline, k, q_star_mean):
    given(f"{n_runs} runs x {n_steps} steps, k={k}, q* mean {q_star_mean:.2f}, alpha={alpha:.3f}, "
          f"baseline={baseline}, seed={seed}")  # fmt: skip
    got = solution.gradient_bandit_testbed(
        n_runs, n_steps, seed, alpha, baseline, k=k, q_star_mean=q_star_mean
    )
    want = reference.gradient_bandit_testbed(
        n_runs, n_steps, seed, alpha, baseline, k=k, q_star_mean=q_star_mean
    )
    assert len(got) == 2, "return (average_reward, optimal_fraction)"
    reward = np.asarray(got[0], dtype=np.float64)
    if reward.shape == want[0].shape and not np.allclose(reward, want[0], atol=1e-9):
        lagged = _gradient_testbed_variant(
            n_runs, n_steps, seed, alpha, baseline, k, q_star_mean, lagged=True
        )
        if baseline and np.allclose(reward, lagged, atol=1e-9):
            raise AssertionError(
                failure(
                    "the baseline lags one step behind",
                    "update the running average with this step's reward before eq. 2.12 "
                    "(S&B's R-bar_t includes R_t)",
                )
            )
    assert_same_curves(
        got,
        want,
        "BanditTestbed(k=k, n_runs=n_runs, seed=seed, mean=q_star_mean) and one "
        "rng = default_rng((seed, 1)); one rng.random((n_runs, 1)) per step; the first arm whose "
        "cumulative probability exceeds it; every arm updated by eq. 2.12",
    )


@pytest.mark.graded(
    exercise="1.9",
    points=2,
    checks="the gradient bandit with a baseline equals run_testbed('gradient'), seeded",
    hint="pi = softmax(H) per row; one uniform per run and step; baseline = the running "
    "average reward including this step's",
)
def test_gradient_testbed_with_baseline_matches_the_reference(solution, graded_rng):
    n_runs, n_steps = int(graded_rng.integers(20, 60)), int(graded_rng.integers(50, 120))
    seed, alpha = int(graded_rng.integers(10_000)), float(graded_rng.uniform(0.05, 0.5))
    _check_gradient_testbed(solution, n_runs, n_steps, seed, alpha, True, 10, 4.0)


@pytest.mark.graded(
    exercise="1.9",
    points=1,
    checks="without a baseline (R - 0 in eq. 2.12) it equals the reference, seeded",
    hint="baseline=False means the factor is the reward itself, R - 0",
)
def test_gradient_testbed_without_baseline_matches_the_reference(solution, graded_rng):
    n_runs, n_steps = int(graded_rng.integers(20, 60)), int(graded_rng.integers(50, 120))
    seed, alpha = int(graded_rng.integers(10_000)), float(graded_rng.uniform(0.05, 0.5))
    _check_gradient_testbed(solution, n_runs, n_steps, seed, alpha, False, 10, 4.0)


@pytest.mark.graded(
    exercise="1.9",
    points=1,
    checks="other k and q* means are used as given",
    hint="use k for H's columns and BanditTestbed, and q_star_mean for the problems",
)
def test_gradient_testbed_uses_k_and_q_star_mean(solution, graded_rng):
    k, seed = int(graded_rng.integers(3, 8)), int(graded_rng.integers(10_000))
    mean = float(graded_rng.normal())
    _check_gradient_testbed(solution, 30, 60, seed, 0.2, bool(graded_rng.integers(2)), k, mean)


@pytest.mark.graded(
    exercise="1.9",
    points=1,
    checks="Figure 2.5's lesson: with q* around +4, the baseline finds the best arm far more often",
    hint="with the baseline, R - R-bar is negative for a worse-than-average arm, so its "
    "preference goes down",
)
def test_gradient_testbed_baseline_learns_faster_when_rewards_are_all_positive(
    solution, graded_rng
):
    seed = int(graded_rng.integers(10_000))
    given(f"300 runs x 300 steps, q* mean +4, alpha=0.1, seed={seed}")
    with_baseline = np.asarray(solution.gradient_bandit_testbed(300, 300, seed, 0.1, True,
                                                                q_star_mean=4.0)[1])  # fmt: skip
    without = np.asarray(solution.gradient_bandit_testbed(300, 300, seed, 0.1, False,
                                                          q_star_mean=4.0)[1])  # fmt: skip
    late_with, late_without = with_baseline[-50:].mean(), without[-50:].mean()
    assert late_with > 0.5 and late_with > late_without + 0.15, failure(
        f"optimal action over the last 50 steps: {late_with:.0%} with the baseline, "
        f"{late_without:.0%} without",
        "the baseline must be subtracted from the reward when baseline=True",
    )
