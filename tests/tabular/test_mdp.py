"""TabularMDP: validation, reading gymnasium's toy-text envs, and the course's registered envs."""

import gymnasium as gym
import numpy as np
import pytest

import rlhf_edu.envs as envs
from rlhf_edu.envs import TabularMDP


def _two_state_mdp():
    P = np.zeros((2, 2, 2))
    P[0, :, 1] = 1.0
    P[1, :, 1] = 1.0
    R = np.array([[1.0, 2.0], [0.0, 0.0]])
    return P, R


def test_valid_mdp_builds_and_reports_sizes():
    P, R = _two_state_mdp()
    mdp = TabularMDP(P, R, terminal=np.array([False, True]))
    assert (mdp.n_states, mdp.n_actions) == (2, 2)
    assert mdp.initial.tolist() == [1.0, 0.0]


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda P, R: (P * 0.5, R), "sum to 1"),
        (lambda P, R: (P[:, :, :1], R), "shape"),
        (lambda P, R: (P, R[:, :1]), "R must have shape"),
        (lambda P, R: (np.where(P > 0, 1.5, -0.5), R), "non-negative"),
        (lambda P, R: (P, R * np.nan), "finite"),
    ],
)
def test_malformed_P_or_R_raises_value_error(mutate, match):
    P, R = mutate(*_two_state_mdp())
    with pytest.raises(ValueError, match=match):
        TabularMDP(P, R)


def test_terminal_state_must_be_absorbing():
    P, R = _two_state_mdp()
    with pytest.raises(ValueError, match="absorbing"):
        TabularMDP(P, R, terminal=np.array([True, False]))


def test_terminal_mask_must_be_boolean_of_length_S():
    P, R = _two_state_mdp()
    with pytest.raises(ValueError, match="terminal"):
        TabularMDP(P, R, terminal=np.array([0, 1]))


@pytest.mark.parametrize(
    "env_id, n_states, n_actions, n_terminal, horizon",
    [
        ("FrozenLake-v1", 16, 4, 5, 100),
        ("FrozenLake8x8-v1", 64, 4, 11, 200),
        ("CliffWalking-v1", 48, 4, 1, None),
        ("Taxi-v4" if "Taxi-v4" in gym.registry else "Taxi-v3", 500, 6, 4, 200),
    ],
)
def test_from_gymnasium_reads_toy_text_envs_with_absorbing_terminals(
    env_id, n_states, n_actions, n_terminal, horizon
):
    mdp = TabularMDP.from_gymnasium(gym.make(env_id))
    assert (mdp.n_states, mdp.n_actions) == (n_states, n_actions)
    assert int(mdp.terminal.sum()) == n_terminal
    np.testing.assert_allclose(mdp.P.sum(axis=2), 1.0)
    for s in np.flatnonzero(mdp.terminal):
        assert np.all(mdp.P[s, :, s] == 1.0) and np.all(mdp.R[s] == 0.0)
    assert mdp.max_episode_steps == horizon
    assert mdp.initial[mdp.terminal].sum() == 0.0


def test_from_gymnasium_rejects_non_discrete_spaces():
    with pytest.raises(TypeError, match="observation_space must be gymnasium.spaces.Discrete"):
        TabularMDP.from_gymnasium(gym.make("CartPole-v1"))


def test_frozenlake_expected_reward_is_probability_of_entering_goal():
    mdp = TabularMDP.from_gymnasium(gym.make("FrozenLake-v1"))
    # state 14 (left of the goal), action RIGHT: 1/3 right (goal), 1/3 down (stay), 1/3 up
    assert mdp.R[14, 2] == pytest.approx(1 / 3)


def test_registration_is_idempotent_and_ids_make_envs():
    envs.register_envs()
    envs.register_envs()
    for env_id in [
        "rlhf_edu/GridWorld-v0",
        "rlhf_edu/GridWorld4x4-v0",
        "rlhf_edu/GridWorld5x5-v0",
        "rlhf_edu/WindyGridworld-v0",
        "rlhf_edu/MaximizationBias-v0",
        "rlhf_edu/KArmedBandit-v0",
    ]:
        env = gym.make(env_id)
        obs, _ = env.reset(seed=0)
        assert env.observation_space.contains(obs)
        env.step(env.action_space.sample())


def test_gridworld_env_exposes_its_mdp():
    env = gym.make("rlhf_edu/GridWorld4x4-v0")
    mdp = env.unwrapped.to_mdp()
    assert TabularMDP.from_gymnasium(env) is mdp
    assert mdp.shape == (4, 4) and mdp.terminal[[0, 15]].all()


def test_5x5_gridworld_jumps_from_A_and_B():
    mdp = envs.sb_gridworld_5x5()
    A, A_prime, B, B_prime = 1, 21, 3, 13
    assert np.all(mdp.P[A, :, A_prime] == 1) and np.all(mdp.R[A] == 10)
    assert np.all(mdp.P[B, :, B_prime] == 1) and np.all(mdp.R[B] == 5)
    assert mdp.R[0, 0] == -1  # off the grid to the left


def test_windy_gridworld_wind_pushes_up():
    mdp = envs.windy_gridworld_mdp()
    s = 3 * 10 + 6  # row 3, column 6 (wind 2); moving right lands in column 7, two rows up
    assert mdp.P[s, 2, 1 * 10 + 7] == 1.0


def test_env_step_rejects_out_of_range_action():
    env = gym.make("rlhf_edu/GridWorld4x4-v0").unwrapped
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.step(7)


def test_gridworld_config_errors_name_the_argument():
    with pytest.raises(ValueError, match="terminal cell"):
        envs.gridworld_mdp((3, 3), terminal_cells=[(5, 5)])
    with pytest.raises(ValueError, match="layout"):
        envs.GridWorldEnv(layout="nope")


def test_bandit_testbed_is_seeded_and_validates_actions():
    a, b = envs.BanditTestbed(10, 5, seed=3), envs.BanditTestbed(10, 5, seed=3)
    np.testing.assert_array_equal(a.q_star, b.q_star)
    with pytest.raises(ValueError, match="actions"):
        a.pull(np.full(5, 10))
