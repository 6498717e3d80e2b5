"""Graded tests of module 13 (personalisation): exercises 13.1-13.6.

13.1 ``group_ceiling``, 13.2 ``single_rm_optimum`` (derivation checked numerically), 13.3
``conditioned_reward``, 13.4 ``conditioned_bt_step``, 13.5 ``per_group_accuracy``, 13.6
``steer_best_of_n``. Each test says what it checks and the likely bug.
"""

import numpy as np
import pytest
import torch

from rlhf_edu.grading.selfcheck import failure, given
from rlhf_edu.rlhf.feedback import personalization as reference
from rlhf_edu.rlhf.feedback.annotators import Annotator
from rlhf_edu.rlhf.preferences import mix_utility


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


def population_with_temperatures(t_major: float, t_minor: float) -> reference.Population:
    users = (
        Annotator(name="a", utility=mix_utility, temperature=t_major),
        Annotator(name="b", utility=mix_utility, temperature=t_major),
        Annotator(name="c", utility=reference.critic_utility, temperature=t_minor),
    )
    return reference.Population(users, ("majority", "majority", "minority"))


def tensor(rng: np.random.Generator, *shape: int) -> torch.Tensor:
    return torch.as_tensor(rng.normal(size=shape), dtype=torch.float32)


# 13.1 -------------------------------------------------------------------------------------------
@pytest.mark.graded(
    exercise="13.1",
    points=1,
    checks="the ceiling on the lesson's example gaps [0, 0.4, -0.4] at T = 0.4",
    hint="mean over pairs of sigmoid(|gap| / T): a gap of 0 gives 0.5, and a negative gap "
    "counts like a positive one",
)
def test_group_ceiling_on_the_lessons_example(solution):
    given("the default population, group 'minority', gaps [0.0, 0.4, -0.4]")
    got = solution.group_ceiling(
        reference.default_population(), "minority", np.array([0, 0.4, -0.4])
    )
    want = (0.5 + 2 * sigmoid(1.0)) / 3
    assert float(got) == pytest.approx(want, abs=1e-9)


@pytest.mark.graded(
    exercise="13.1", points=1, checks="the ceiling uses the group's own temperature"
)
def test_group_ceiling_uses_the_groups_temperature(solution, graded_rng):
    t_major, t_minor = (float(t) for t in graded_rng.uniform(0.1, 1.0, size=2))
    population = population_with_temperatures(t_major, t_minor)
    gaps = graded_rng.normal(size=20)
    for group, temperature in (("majority", t_major), ("minority", t_minor)):
        given(f"20 random gaps, group {group!r} with temperature {temperature:.3f}")
        got = float(solution.group_ceiling(population, group, gaps))
        want = reference.group_ceiling(population, group, gaps)
        other = float(np.mean(sigmoid(np.abs(gaps) / (t_major + t_minor - temperature))))
        hint = (
            "that is the other group's temperature: take it from a member of this group "
            "(population.members(group))"
            if got == pytest.approx(other)
            else "mean of sigmoid(|gap| / T) with T = the temperature of the group's members"
        )
        assert got == pytest.approx(want, abs=1e-9), failure(
            f"got {got:.4g}, expected {want:.4g}", hint
        )


# 13.2 -------------------------------------------------------------------------------------------
@pytest.mark.graded(
    exercise="13.2",
    points=1,
    checks="r* and the mixture against the reference on random populations",
    hint="P[i, j] = sum_g shares[g] * sigmoid((u[g, i] - u[g, j]) / T); step r_a -= lr * "
    "mean_b(sigmoid(r_a - r_b) - P[a, b]); mixture = shares @ u / T; centre both",
)
def test_single_rm_optimum_matches_reference(solution, graded_rng):
    for _ in range(3):
        n_groups, k = int(graded_rng.integers(2, 4)), int(graded_rng.integers(4, 10))
        utilities = graded_rng.normal(size=(n_groups, k))
        shares = graded_rng.dirichlet(np.ones(n_groups))
        temperature = float(graded_rng.uniform(0.3, 1.5))
        given(f"{n_groups} groups, {k} responses, T = {temperature:.2f}, 300 steps")
        got_r, got_mix = solution.single_rm_optimum(utilities, shares, temperature, 300, 2.0)
        want_r, want_mix = reference.single_rm_optimum(utilities, shares, temperature, 300, 2.0)
        np.testing.assert_allclose(np.asarray(got_mix), want_mix, atol=1e-8, err_msg="mixture")
        np.testing.assert_allclose(np.asarray(got_r), want_r, atol=1e-6, err_msg="r_star")


@pytest.mark.graded(
    exercise="13.2",
    points=1,
    checks="for small gaps r* is the mixture, and r* is a stationary point of the expected loss",
)
def test_single_rm_optimum_is_the_mixture_for_small_gaps(solution, graded_rng):
    k = int(graded_rng.integers(6, 12))
    utilities = 0.05 * graded_rng.normal(size=(2, k))
    shares = np.array([0.8, 0.2])
    given(f"2 groups (80/20), {k} responses with utility gaps of about 0.05, T = 0.4")
    r_star, mixture = (np.asarray(x) for x in solution.single_rm_optimum(utilities, shares, 0.4))
    assert abs(r_star.mean()) < 1e-9 and abs(mixture.mean()) < 1e-9, failure(
        "r* or the mixture is not centred", "subtract each one's mean before returning"
    )
    mixed = np.einsum(
        "g,gij->ij", shares, sigmoid((utilities[:, :, None] - utilities[:, None]) / 0.4)
    )
    gradient = (sigmoid(r_star[:, None] - r_star[None, :]) - mixed).mean(axis=1)
    assert np.abs(gradient).max() < 1e-6, failure(
        f"the expected loss's gradient at your r* is {np.abs(gradient).max():.2g}, not 0",
        "descend: r -= learning_rate * mean_b(sigmoid(r_a - r_b) - P[a, b]) (mind the sign)",
    )
    assert np.abs(r_star - mixture).max() < 0.01 * np.abs(mixture).max(), failure(
        "r* and the mixture differ by more than 1%", "mixture = shares @ utilities / T"
    )


@pytest.mark.graded(exercise="13.2", points=1, checks="shares that do not sum to 1 are refused")
def test_single_rm_optimum_refuses_bad_shares(solution, graded_rng):
    utilities = graded_rng.normal(size=(2, 5))
    for shares in ([0.5, 0.6], [1.2, -0.2]):
        given(f"shares {shares}")
        with pytest.raises(ValueError):
            solution.single_rm_optimum(utilities, np.array(shares), 0.4, 10, 2.0)


# 13.3 -------------------------------------------------------------------------------------------
@pytest.mark.graded(
    exercise="13.3",
    points=1,
    checks="the conditioned reward against the reference on random inputs",
    hint="(w + d_i) . phi + b per row: phi @ weight + bias + (deviation[user] * phi).sum(-1)",
)
def test_conditioned_reward_matches_reference(solution, graded_rng):
    for _ in range(4):
        batch, n_features = int(graded_rng.integers(1, 12)), int(graded_rng.integers(2, 9))
        n_users = int(graded_rng.integers(2, 6))
        phi = tensor(graded_rng, batch, n_features)
        user = torch.as_tensor(graded_rng.integers(0, n_users, size=batch))
        args = (
            phi,
            user,
            tensor(graded_rng, n_features),
            tensor(graded_rng),
            tensor(graded_rng, n_users, n_features),
        )
        given(f"batch {batch}, {n_features} features, {n_users} users")
        got = torch.as_tensor(solution.conditioned_reward(*args))
        assert got.shape == (batch,), failure(
            f"shape {tuple(got.shape)}, expected ({batch},)", "one reward per row of phi"
        )
        torch.testing.assert_close(got, reference.conditioned_reward(*args), atol=1e-5, rtol=1e-5)


@pytest.mark.graded(
    exercise="13.3",
    points=1,
    checks="each row uses its own user's deviation; with D = 0 every user gets w . phi + b",
)
def test_conditioned_reward_uses_each_rows_user(solution, graded_rng):
    n_features, n_users = 4, 3
    phi = tensor(graded_rng, 6, n_features)
    weight, bias = tensor(graded_rng, n_features), tensor(graded_rng)
    user = torch.tensor([0, 1, 2, 2, 1, 0])
    given("a zero deviation table")
    zero = torch.as_tensor(
        solution.conditioned_reward(phi, user, weight, bias, torch.zeros(n_users, n_features))
    )
    torch.testing.assert_close(zero, phi @ weight + bias, atol=1e-5, rtol=1e-5)
    deviation = torch.zeros(n_users, n_features)
    deviation[2] = 1.0  # only user 2 deviates
    given("only user 2 has a deviation (all ones)")
    got = torch.as_tensor(solution.conditioned_reward(phi, user, weight, bias, deviation))
    expected = phi @ weight + bias + (user == 2) * phi.sum(-1)
    assert torch.allclose(got, expected, atol=1e-5), failure(
        "the rows of users 0 and 1 moved, or user 2's did not",
        "pick row user[k] of the deviation table for row k (deviation[user]), not a column",
    )


# 13.4 -------------------------------------------------------------------------------------------
def fresh(rng: np.random.Generator, n_features: int, n_users: int, optimizer: str, lr: float):
    params = {
        "weight": (0.3 * tensor(rng, n_features)).requires_grad_(),
        "bias": (0.3 * tensor(rng)).requires_grad_(),
        "deviation": (0.3 * tensor(rng, n_users, n_features)).requires_grad_(),
    }
    groups = [
        {"params": [params["weight"], params["bias"]], "weight_decay": 1e-3},
        {"params": [params["deviation"]], "weight_decay": 1e-4},
    ]
    opt = torch.optim.Adam(groups, lr=lr) if optimizer == "adam" else torch.optim.SGD(groups, lr=lr)
    return params, opt


def pairs(rng: np.random.Generator, n: int, n_features: int, n_users: int):
    return tensor(rng, n, 2, n_features), torch.as_tensor(rng.integers(0, n_users, size=n))


@pytest.mark.graded(
    exercise="13.4",
    points=2,
    checks="one step from random parameters: the loss before it and the parameters after it",
    hint="zero_grad; margin = r(phi[:, 0], user) - r(phi[:, 1], user) with your "
    "conditioned_reward and params; loss = -logsigmoid(margin).mean(); backward; step",
)
def test_conditioned_bt_step_matches_the_reference_step(solution, graded_rng):
    n_features, n_users = int(graded_rng.integers(3, 7)), int(graded_rng.integers(2, 5))
    phi, user = pairs(graded_rng, 24, n_features, n_users)
    seed = int(graded_rng.integers(1_000_000))
    for name in ("adam", "sgd"):
        given(f"24 pairs, {n_features} features, {n_users} users, one {name} step")
        params, opt = fresh(np.random.default_rng(seed), n_features, n_users, name, 0.1)
        got = solution.conditioned_bt_step(params, opt, phi, user)
        ref_params, ref_opt = fresh(np.random.default_rng(seed), n_features, n_users, name, 0.1)
        want = reference.conditioned_bt_step(ref_params, ref_opt, phi, user)
        assert float(got) == pytest.approx(want, rel=1e-5), failure(
            f"loss {float(got):.5g}, expected {want:.5g}",
            "the mean of -log sigmoid(margin), measured before the step",
        )
        for key in params:
            assert torch.allclose(params[key].detach(), ref_params[key].detach(), atol=1e-5), (
                failure(
                    f"params[{key!r}] after the step differs from the reference's",
                    "call optimizer.zero_grad(), loss.backward() and optimizer.step() once each",
                )
            )


@pytest.mark.graded(
    exercise="13.4",
    points=1,
    checks="each pair is scored for the user who labelled it",
)
def test_conditioned_bt_step_scores_pairs_for_their_labeller(solution, graded_rng):
    phi, user = pairs(graded_rng, 30, 4, 3)
    seed = int(graded_rng.integers(1_000_000))
    params, opt = fresh(np.random.default_rng(seed), 4, 3, "sgd", 0.0)
    given("30 pairs labelled by 3 users whose deviations differ, learning rate 0")
    got = float(solution.conditioned_bt_step(params, opt, phi, user))
    with torch.no_grad():
        w = params["weight"]
        ignoring = -torch.nn.functional.logsigmoid((phi[:, 0] - phi[:, 1]) @ w).mean().item()
    want = reference.conditioned_bt_step(
        *fresh(np.random.default_rng(seed), 4, 3, "sgd", 0.0), phi, user
    )
    hint = (
        "your loss ignores the deviations: score with conditioned_reward(phi[:, j], user, ...)"
        if got == pytest.approx(ignoring, rel=1e-5)
        else "score both responses of pair k for user[k] and average -log sigmoid(margin)"
    )
    assert got == pytest.approx(want, rel=1e-5), failure(
        f"loss {got:.5g}, expected {want:.5g}", hint
    )


@pytest.mark.graded(
    exercise="13.4",
    points=1,
    checks="repeated steps learn opposite tastes for two users",
    hint="the loss is minimised, not maximised: -log sigmoid(r_chosen - r_rejected)",
)
def test_conditioned_bt_steps_learn_opposite_tastes(solution, graded_rng):
    phi = tensor(graded_rng, 200, 2, 3)
    user = torch.tensor([0, 1] * 100)
    taste = torch.tensor([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]])
    utilities = (phi * taste[user][:, None, :]).sum(-1)
    phi = torch.where((utilities[:, 0] > utilities[:, 1])[:, None, None], phi, phi.flip(1))
    params = {"weight": torch.zeros(3), "bias": torch.zeros(()), "deviation": torch.zeros(2, 3)}
    given("200 pairs, user 0 likes feature 0 and user 1 dislikes it, 25 SGD steps at lr 2")
    losses = []
    for _ in range(25):
        # plain SGD keeps no state, so a fresh optimizer on the current values each step is the
        # same as one optimizer throughout (and works when the grader copies the arguments)
        params = {k: v.detach().clone().requires_grad_() for k, v in params.items()}
        opt = torch.optim.SGD(params.values(), lr=2.0)
        losses.append(float(solution.conditioned_bt_step(params, opt, phi, user)))
    assert losses[-1] < losses[0] - 0.1, failure(
        f"the loss went from {losses[0]:.3f} to {losses[-1]:.3f}", "does the step descend?"
    )
    d = params["deviation"].detach()
    w = params["weight"].detach()
    assert (w + d[0])[0] > 0.5 and (w + d[1])[0] < -0.5, failure(
        "the two users' weights on feature 0 did not take opposite signs",
        "pairs must be scored for their own labeller (deviation[user])",
    )


# 13.5 -------------------------------------------------------------------------------------------
@pytest.mark.graded(
    exercise="13.5",
    points=1,
    checks="per-group accuracy against the reference on random margins and groups",
    hint="within each group: mean of (margin > 0) == label",
)
def test_per_group_accuracy_matches_reference(solution, graded_rng):
    names = ["majority", "minority", "third"]
    for _ in range(4):
        n = int(graded_rng.integers(5, 40))
        margins = graded_rng.normal(size=n)
        labels = graded_rng.random(n) < 0.5
        groups = [names[i] for i in graded_rng.integers(0, 3, size=n)]
        given(f"{n} pairs in {len(set(groups))} groups")
        got = solution.per_group_accuracy(torch.as_tensor(margins), labels, groups)
        want = reference.per_group_accuracy(margins, labels, groups)
        assert list(got) == list(want), failure(
            f"groups {list(got)}, expected {list(want)}",
            "every group, in order of first appearance",
        )
        for g in want:
            assert float(got[g]) == pytest.approx(want[g]), failure(
                f"{g}: {float(got[g]):.4g}, expected {want[g]:.4g}",
                "mean over that group's pairs only",
            )


@pytest.mark.graded(exercise="13.5", points=1, checks="a zero margin predicts b")
def test_per_group_accuracy_counts_a_tie_as_predicting_b(solution):
    given("margins [0, 0, 1, -1], labels [True, False, True, True], one group")
    got = solution.per_group_accuracy(
        np.array([0.0, 0.0, 1.0, -1.0]), np.array([True, False, True, True]), ["g"] * 4
    )
    assert float(got["g"]) == pytest.approx(0.5), failure(
        f"got {float(got['g'])}, expected 0.5",
        "the prediction is margin > 0 (strict): a tie predicts b",
    )


# 13.6 -------------------------------------------------------------------------------------------
def linear_reward(tastes: torch.Tensor):
    def reward(phi, users):
        return (phi * tastes[users]).sum(-1)

    return reward


@pytest.mark.graded(
    exercise="13.6",
    points=2,
    checks="the picks for each user against the reference",
    hint="flatten to (P * n, F), score with users all equal to user, reshape to (P, n), argmax(1)",
)
def test_steer_best_of_n_matches_reference(solution, graded_rng):
    n_prompts, n, n_features, n_users = (
        int(graded_rng.integers(2, 9)),
        int(graded_rng.integers(2, 9)),
        3,
        3,
    )
    phi = tensor(graded_rng, n_prompts, n, n_features)
    reward = linear_reward(tensor(graded_rng, n_users, n_features))
    for uid in range(n_users):
        given(f"{n_prompts} prompts x {n} candidates, user {uid} of 3 with different tastes")
        got = torch.as_tensor(solution.steer_best_of_n(phi, uid, reward))
        want = reference.steer_best_of_n(phi, uid, reward)
        assert got.shape == (n_prompts,), failure(
            f"shape {tuple(got.shape)}, expected ({n_prompts},)", "one index per prompt"
        )
        assert torch.equal(got.long(), want), failure(
            f"picks {got.tolist()}, expected {want.tolist()}",
            "score every candidate for this user, then argmax over each prompt's n candidates "
            "(reshape to (P, n), not (n, P))",
        )


@pytest.mark.graded(exercise="13.6", points=1, checks="the first candidate wins a tie")
def test_steer_best_of_n_breaks_ties_by_the_first_candidate(solution):
    phi = torch.zeros(2, 4, 1)
    phi[0, 1] = phi[0, 3] = 1.0
    phi[1, 2] = 1.0
    given("two prompts; prompt 0 has a tie between candidates 1 and 3")
    got = torch.as_tensor(solution.steer_best_of_n(phi, 0, linear_reward(torch.ones(1, 1))))
    assert got.tolist() == [1, 2], failure(f"picks {got.tolist()}, expected [1, 2]", "use argmax")
