"""rlhf_edu.viz.episodes: an episode of a policy recorded from rgb_array frames and played as a GIF."""

import io
from importlib.resources import files

import gymnasium as gym
import numpy as np
import pytest
from PIL import Image

from rlhf_edu.viz import episode_gif, record_episode

GIF_MAGIC = b"GIF89a"
UP, RIGHT, DOWN = 0, 1, 2  # CliffWalking's actions


def cliff_straight_path(obs):
    """Up from the start (row 3, column 0), right along row 2, down onto the goal: 13 steps."""
    row, column = divmod(int(obs), 12)
    if row == 3 and column == 0:
        return UP
    return RIGHT if column < 11 else DOWN


def open_gif(data: bytes) -> Image.Image:
    assert data.startswith(GIF_MAGIC)
    return Image.open(io.BytesIO(data))


def test_cliff_walking_path_is_recorded_step_by_step_and_ends_on_the_goal():
    episode = record_episode("CliffWalking-v1", cliff_straight_path, seed=0)
    assert episode.n_steps == 13 and episode.terminated and not episode.truncated
    assert episode.total_reward == -13.0  # -1 per step, no cliff
    assert episode.steps == list(range(14))  # the start frame, then one per step
    assert len(episode.frames) == 14
    assert episode.frames[0].shape == (256, 768, 3) and episode.frames[0].dtype == np.uint8


def test_every_keeps_each_kth_frame_and_always_the_last():
    episode = record_episode("CliffWalking-v1", cliff_straight_path, seed=0, every=5)
    assert episode.steps == [0, 5, 10, 13]


def test_max_frames_caps_a_long_episode():
    episode = record_episode("Acrobot-v1", None, seed=0, max_frames=12)
    assert len(episode.frames) == 12 and episode.steps[-1] == 11
    assert not (episode.terminated or episode.truncated)  # stopped by the cap, not by the env


def test_gif_has_one_frame_per_recorded_frame_and_the_requested_size(tmp_path):
    width = 96
    data = episode_gif(
        "CliffWalking-v1", cliff_straight_path, tmp_path / "cliff.gif", seed=0, width=width, fps=5
    )
    assert (tmp_path / "cliff.gif").read_bytes() == data
    gif = open_gif(data)
    assert gif.n_frames == 14
    assert gif.size == (width, 256 * width // 768 + 14)  # the frame, plus one line of text
    assert gif.info["duration"] == 200  # 5 frames per second


def test_side_by_side_gif_lasts_as_long_as_the_longest_episode():
    table = np.zeros((16, 4))
    table[:, DOWN] = 1.0  # FrozenLake: always down
    longest = max(
        len(record_episode("FrozenLake-v1", policy, seed=3, max_frames=40).frames)
        for policy in (None, table)
    )
    data = episode_gif(
        "FrozenLake-v1", {"random": None, "always down": table}, seed=3, max_frames=40, width=64
    )
    gif = open_gif(data)
    assert gif.n_frames == longest
    assert gif.size == (2 * 64, 64 + 26)  # two square panels, two lines of text above
    assert gif.info["duration"] == 250  # FrozenLake's render_fps is 4


def test_gif_is_deterministic_for_a_seed_and_differs_across_seeds():
    def make(seed):
        return episode_gif("CartPole-v1", None, seed=seed, max_frames=8, width=60)

    assert make(0) == make(0)
    assert make(0) != make(1)


def test_a_pretrained_agent_balances_the_pole_while_random_actions_drop_it():
    from rlhf_edu.neural import load_agent

    agent = load_agent(files("rlhf_edu.data") / "pretrained" / "ppo-cartpole.pt")
    trained = record_episode("CartPole-v1", agent, seed=0, max_frames=25, every=4)
    random = record_episode("CartPole-v1", None, seed=0, max_frames=25, every=4)
    assert trained.n_steps == 96 and not trained.terminated  # 25 frames: steps 0, 4, ..., 96
    assert random.terminated and random.n_steps < 96
    data = episode_gif(
        "CartPole-v1", {"untrained": None, "trained": agent}, seed=0, max_frames=25, every=4
    )
    gif = open_gif(data)
    assert gif.n_frames == 25
    assert len(data) < 300_000


def test_an_env_made_without_rgb_array_is_refused_with_the_fix():
    env = gym.make("FrozenLake-v1", render_mode="ansi")
    with pytest.raises(ValueError, match="render_mode='rgb_array'"):
        record_episode(env)


def test_an_env_id_that_cannot_render_frames_is_refused():
    class TextOnly(gym.Env):
        metadata = {"render_modes": ["ansi"]}
        observation_space = gym.spaces.Discrete(2)
        action_space = gym.spaces.Discrete(2)

        def __init__(self, render_mode=None):
            self.render_mode = render_mode

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            return 0, {}

        def step(self, action):
            return 0, 0.0, True, False, {}

    gym.register("rlhf_edu_test/TextOnly-v0", entry_point=TextOnly)
    try:
        with pytest.raises(ValueError, match="cannot render rgb_array"):
            episode_gif("rlhf_edu_test/TextOnly-v0")
    finally:
        gym.registry.pop("rlhf_edu_test/TextOnly-v0")


def test_bad_policies_are_named_in_the_error():
    with pytest.raises(TypeError, match="policy must be"):
        record_episode("CartPole-v1", "push left")
    with pytest.raises(ValueError, match="policy returned 5 at step 0"):
        record_episode("CartPole-v1", lambda obs: 5)
    with pytest.raises(ValueError, match=r"policy must have shape \(S, A\) = \(16, 4\)"):
        record_episode("FrozenLake-v1", np.zeros((4, 4)))
    with pytest.raises(TypeError, match="discrete observations"):
        record_episode("CartPole-v1", np.zeros((4, 2)))


def test_bad_sizes_are_named_in_the_error():
    with pytest.raises(ValueError, match="max_frames"):
        record_episode("CartPole-v1", max_frames=0)
    with pytest.raises(ValueError, match="every"):
        record_episode("CartPole-v1", every=0)
    with pytest.raises(ValueError, match="width"):
        episode_gif("CartPole-v1", width=4)
    with pytest.raises(ValueError, match="policies"):
        episode_gif("CartPole-v1", {})
