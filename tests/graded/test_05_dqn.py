"""Graded tests of module 05 (DQN): exercises 5.1-5.8 (the replay buffer, the DQN and Double-DQN
targets, the loss, the stop-gradient find-the-bug, the target update and the epsilon schedule)."""

import numpy as np
import pytest
import torch

from rlhf_edu.neural import dqn as reference


def random_batch(rng):
    batch, n_actions = int(rng.integers(2, 20)), int(rng.integers(2, 6))
    rewards = torch.tensor(rng.normal(size=batch), dtype=torch.float32)
    next_q = torch.tensor(rng.normal(size=(batch, n_actions)) * 5, dtype=torch.float32)
    terminated = torch.tensor(rng.random(batch) < 0.4, dtype=torch.float32)
    return rewards, next_q, terminated, float(rng.uniform(0.5, 1.0))


def random_transitions(rng, n, obs_dim):
    return [
        (
            rng.normal(size=obs_dim).astype(np.float32),
            int(rng.integers(0, 4)),
            float(rng.normal()),
            rng.normal(size=obs_dim).astype(np.float32),
            bool(rng.random() < 0.3),
        )
        for _ in range(n)
    ]


def filled_buffer(rng, capacity, n_added, obs_dim=3):
    buffer = reference.make_replay_buffer(capacity, obs_dim)
    for transition in random_transitions(rng, n_added, obs_dim):
        reference.replay_add(buffer, *transition)
    return buffer


# 5.1 replay_add -------------------------------------------------------------------------------


@pytest.mark.graded(exercise="5.1", points=1)
def test_replay_add_writes_rows_in_order_before_the_buffer_is_full(solution, graded_rng):
    capacity, obs_dim = int(graded_rng.integers(5, 10)), int(graded_rng.integers(1, 5))
    n = int(graded_rng.integers(1, capacity))
    got = reference.make_replay_buffer(capacity, obs_dim)
    want = reference.make_replay_buffer(capacity, obs_dim)
    for transition in random_transitions(graded_rng, n, obs_dim):
        solution.replay_add(got, *transition)
        reference.replay_add(want, *transition)
    assert (got["position"], got["size"]) == (n, n), (
        f"after {n} adds to an empty buffer of {capacity} rows, position and size should be {n}"
    )
    for name in reference.BUFFER_FIELDS:
        np.testing.assert_allclose(got[name], want[name], err_msg=f"the {name!r} rows")


@pytest.mark.graded(exercise="5.1", points=1)
def test_replay_add_is_circular_when_full(solution, graded_rng):
    capacity, obs_dim = int(graded_rng.integers(2, 6)), 2
    n = capacity * 2 + int(graded_rng.integers(1, capacity + 1))
    got = reference.make_replay_buffer(capacity, obs_dim)
    want = reference.make_replay_buffer(capacity, obs_dim)
    for transition in random_transitions(graded_rng, n, obs_dim):
        solution.replay_add(got, *transition)
        reference.replay_add(want, *transition)
    assert got["size"] == capacity, "size must stop growing at the capacity"
    assert got["position"] == n % capacity, (
        "position must wrap around to row 0 after the last row (a circular buffer)"
    )
    for name in reference.BUFFER_FIELDS:
        np.testing.assert_allclose(
            got[name], want[name], err_msg=f"the {name!r} rows: overwrite the oldest row?"
        )


# 5.2 replay_sample ----------------------------------------------------------------------------


@pytest.mark.graded(exercise="5.2", points=1)
def test_replay_sample_matches_the_reference_with_the_same_seed(solution, graded_rng):
    capacity = int(graded_rng.integers(4, 30))
    buffer = filled_buffer(graded_rng, capacity, int(graded_rng.integers(1, 2 * capacity)))
    seed, batch_size = int(graded_rng.integers(10_000)), int(graded_rng.integers(1, 40))
    rng = np.random.default_rng(seed)
    got = solution.replay_sample(buffer, batch_size, rng)
    want = reference.replay_sample(buffer, batch_size, np.random.default_rng(seed))
    assert len(got) == 5, "return (obs, actions, rewards, next_obs, terminated)"
    for name, a, b in zip(reference.BUFFER_FIELDS, got, want):
        assert isinstance(a, torch.Tensor), f"{name} should be a torch tensor"
        assert a.dtype == b.dtype, f"{name}: dtype {a.dtype}, expected {b.dtype}"
        torch.testing.assert_close(
            a, b, msg=f"{name}: draw the indices with one rng.integers(0, size, size=batch_size)"
        )
    # the generator advanced by exactly one draw of batch_size integers
    follow = np.random.default_rng(seed)
    follow.integers(0, buffer["size"], size=batch_size)
    assert rng.integers(1 << 30) == follow.integers(1 << 30), "use exactly one random call"


@pytest.mark.graded(exercise="5.2", points=1)
def test_replay_sample_draws_only_filled_rows_and_refuses_an_empty_buffer(solution, graded_rng):
    capacity, n = 50, int(graded_rng.integers(1, 4))
    buffer = filled_buffer(graded_rng, capacity, n)
    rng = np.random.default_rng(int(graded_rng.integers(10_000)))
    _, _, rewards, _, _ = solution.replay_sample(buffer, 200, rng)
    filled = set(np.round(buffer["rewards"][:n], 5).tolist())
    assert set(np.round(np.asarray(rewards), 5).tolist()) <= filled, (
        "sampled an empty row: draw among the `size` filled rows, not the whole capacity"
    )
    with pytest.raises(ValueError):
        solution.replay_sample(reference.make_replay_buffer(4, 2), 3, rng)


# 5.3 td_target --------------------------------------------------------------------------------


@pytest.mark.graded(exercise="5.3", points=1)
def test_td_target_bootstraps_from_the_max_and_not_after_termination(solution, graded_rng):
    rewards, next_q, _, gamma = random_batch(graded_rng)
    got = solution.td_target(rewards, next_q, torch.zeros_like(rewards), gamma)
    torch.testing.assert_close(got, rewards + gamma * next_q.max(dim=-1).values)
    got = solution.td_target(rewards, next_q, torch.ones_like(rewards), gamma)
    torch.testing.assert_close(got, rewards, msg="bootstraps from a terminal state?")


@pytest.mark.graded(exercise="5.3", points=1)
def test_td_target_matches_the_reference_on_random_batches(solution, graded_rng):
    for _ in range(10):
        rewards, next_q, terminated, gamma = random_batch(graded_rng)
        torch.testing.assert_close(
            solution.td_target(rewards, next_q, terminated, gamma),
            reference.td_target(rewards, next_q, terminated, gamma),
        )


# 5.4 double_dqn_td_target ---------------------------------------------------------------------


@pytest.mark.graded(exercise="5.4", points=1)
def test_double_dqn_target_rates_the_online_choice_with_the_target_net(solution, graded_rng):
    rewards, next_q, _, gamma = random_batch(graded_rng)
    online = torch.tensor(graded_rng.normal(size=next_q.shape), dtype=torch.float32)
    got = solution.double_dqn_td_target(rewards, next_q, online, torch.zeros_like(rewards), gamma)
    picked = next_q.gather(-1, online.argmax(-1, keepdim=True)).squeeze(-1)
    torch.testing.assert_close(
        got,
        rewards + gamma * picked,
        msg="the online network picks argmax_a' Q_theta(s', a'), the target network rates it",
    )


@pytest.mark.graded(exercise="5.4", points=1)
def test_double_dqn_target_matches_the_reference_on_random_batches(solution, graded_rng):
    for _ in range(10):
        rewards, next_q, terminated, gamma = random_batch(graded_rng)
        online = torch.tensor(graded_rng.normal(size=next_q.shape), dtype=torch.float32)
        torch.testing.assert_close(
            solution.double_dqn_td_target(rewards, next_q, online, terminated, gamma),
            reference.double_dqn_td_target(rewards, next_q, online, terminated, gamma),
        )


# 5.5 dqn_loss ---------------------------------------------------------------------------------


def random_loss_inputs(rng):
    batch, n_actions = int(rng.integers(2, 12)), int(rng.integers(2, 5))
    q_values = torch.tensor(rng.normal(size=(batch, n_actions)) * 2, requires_grad=True)
    actions = torch.tensor(rng.integers(0, n_actions, size=batch))
    return q_values, actions


@pytest.mark.graded(exercise="5.5", points=1)
def test_dqn_loss_is_the_huber_loss_of_the_td_error(solution, graded_rng):
    q_values, actions = random_loss_inputs(graded_rng)
    targets = torch.tensor(graded_rng.normal(size=len(actions)) * 2)
    got = solution.dqn_loss(q_values, actions, targets)
    want = reference.dqn_loss(q_values, actions, targets)
    assert got.shape == (), "return a scalar (the mean over the batch)"
    torch.testing.assert_close(got, want, msg="Huber (smooth L1) loss of Q(s, a) - td_target")
    got.backward()
    expected_grad = torch.autograd.grad(reference.dqn_loss(q_values, actions, targets), q_values)[0]
    torch.testing.assert_close(q_values.grad, expected_grad)


@pytest.mark.graded(exercise="5.5", points=1)
def test_dqn_loss_sends_no_gradient_into_the_targets(solution, graded_rng):
    q_values, actions = random_loss_inputs(graded_rng)
    targets = torch.tensor(graded_rng.normal(size=len(actions)) * 2, requires_grad=True)
    solution.dqn_loss(q_values, actions, targets).backward()
    assert targets.grad is None or torch.all(targets.grad == 0), (
        "gradient reached td_targets: the target must be a constant (detach it)"
    )


# 5.6 find the bug: q_learning_loss -------------------------------------------------------------


def q_learning_inputs(rng):
    q_values, actions = random_loss_inputs(rng)
    next_q = torch.tensor(rng.normal(size=tuple(q_values.shape)) * 2, requires_grad=True)
    rewards = torch.tensor(rng.normal(size=len(actions)))
    terminated = torch.tensor((rng.random(len(actions)) < 0.3).astype(np.float64))
    return q_values, next_q, actions, rewards, terminated, float(rng.uniform(0.5, 1.0))


@pytest.mark.graded(exercise="5.6", points=1)
def test_no_gradient_reaches_the_target_next_q_values(solution, graded_rng):
    q_values, next_q, actions, rewards, terminated, gamma = q_learning_inputs(graded_rng)
    solution.q_learning_loss(q_values, next_q, actions, rewards, terminated, gamma).backward()
    assert next_q.grad is None or torch.all(next_q.grad == 0), (
        "the gradient reaches next_q_values: no stop-gradient on the DQN target "
        "(compute it under torch.no_grad() or detach it)"
    )


@pytest.mark.graded(exercise="5.6", points=1)
def test_fixed_q_learning_loss_keeps_the_value_and_the_gradient_on_q(solution, graded_rng):
    args = q_learning_inputs(graded_rng)
    q_values = args[0]
    got = solution.q_learning_loss(*args)
    want = reference.q_learning_loss(*args)
    torch.testing.assert_close(got, want, msg="the fix changes the gradient, not the loss value")
    got.backward()
    expected = torch.autograd.grad(reference.q_learning_loss(*args), q_values)[0]
    torch.testing.assert_close(q_values.grad, expected)


# 5.7 update_target ----------------------------------------------------------------------------


def random_state(rng):
    return {
        "0.weight": torch.tensor(rng.normal(size=(3, 2)), dtype=torch.float32),
        "0.bias": torch.tensor(rng.normal(size=3), dtype=torch.float32),
    }


@pytest.mark.graded(exercise="5.7", points=1)
def test_update_target_with_tau_one_is_a_hard_copy(solution, graded_rng):
    target, online = random_state(graded_rng), random_state(graded_rng)
    kept = {k: v.clone() for k, v in target.items()}
    got = solution.update_target(target, online, 1.0)
    assert set(got) == set(online), "return a dict with the same parameter names"
    for name in online:
        torch.testing.assert_close(got[name], online[name], msg=f"{name}: tau = 1 copies")
        torch.testing.assert_close(target[name], kept[name], msg="do not modify the inputs")


@pytest.mark.graded(exercise="5.7", points=1)
def test_update_target_is_polyak_averaging(solution, graded_rng):
    target, online = random_state(graded_rng), random_state(graded_rng)
    tau = float(graded_rng.uniform(0.001, 0.9))
    got = solution.update_target(target, online, tau)
    want = reference.update_target(target, online, tau)
    for name in want:
        torch.testing.assert_close(
            got[name], want[name], msg=f"{name}: tau * online + (1 - tau) * target?"
        )


# 5.8 linear_epsilon ---------------------------------------------------------------------------


@pytest.mark.graded(exercise="5.8", points=1)
def test_epsilon_starts_at_start_and_stays_at_end_after_the_decay(solution, graded_rng):
    start, end = float(graded_rng.uniform(0.5, 1.0)), float(graded_rng.uniform(0.0, 0.1))
    decay = int(graded_rng.integers(10, 1000))
    assert solution.linear_epsilon(0, start, end, decay) == pytest.approx(start)
    assert solution.linear_epsilon(decay, start, end, decay) == pytest.approx(end)
    assert solution.linear_epsilon(decay * 3, start, end, decay) == pytest.approx(end)


@pytest.mark.graded(exercise="5.8", points=1)
def test_epsilon_decays_linearly_like_the_reference(solution, graded_rng):
    start, end = float(graded_rng.uniform(0.5, 1.0)), float(graded_rng.uniform(0.0, 0.1))
    decay = int(graded_rng.integers(10, 1000))
    for step in graded_rng.integers(0, 2 * decay, size=20):
        assert solution.linear_epsilon(int(step), start, end, decay) == pytest.approx(
            reference.linear_epsilon(int(step), start, end, decay)
        )
