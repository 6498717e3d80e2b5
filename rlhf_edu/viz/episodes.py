"""Agents you can watch: one episode of a policy, recorded as RGB frames and written as a GIF.

``record_episode(env, policy, seed)`` runs one episode from ``env.reset(seed=seed)`` and keeps
gymnasium's ``render_mode="rgb_array"`` frames (the start state, then the state after each kept
step, and always the last one). ``episode_gif(env, policies, seed)`` animates one or several
policies side by side from the same start state (an untrained agent beside a trained one) through
matplotlib's ``PillowWriter`` (Pillow comes with matplotlib), so it needs nothing beyond the
default install. Display it in a notebook with ``IPython.display.Image(data=gif)``.

A policy is one of
- ``None``: uniformly random actions, ``env.action_space.sample()`` seeded with ``seed``;
- an agent with ``act(obs_batch, deterministic=True) -> actions`` (``rlhf_edu.neural`` agents);
- a tabular ``(S, A)`` array, a policy or a Q table: ``a = argmax_a policy[s, a]``;
- a callable ``policy(obs) -> action``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.animation import PillowWriter

from rlhf_edu.utils import check_seed
from rlhf_edu.utils.validation import check_float, check_int

__all__ = ["Episode", "episode_gif", "record_episode"]

Policy = Any  # None | agent with .act | (S, A) array | callable(obs) -> action


@dataclass
class Episode:
    """One recorded episode: ``frames[i]`` is an ``(H, W, 3)`` uint8 image after ``steps[i]``
    steps (``steps[0] == 0``, the start state); ``rewards[t]`` is R_{t+1}, the reward of step t."""

    frames: list[np.ndarray] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    terminated: bool = False
    truncated: bool = False
    render_fps: float = 10.0  # the env's metadata["render_fps"]: its natural playback speed

    @property
    def total_reward(self) -> float:
        """The undiscounted return of the steps taken."""
        return float(sum(self.rewards))

    @property
    def n_steps(self) -> int:
        return len(self.rewards)


def _make_env(env: str | gym.Env, env_kwargs: Mapping[str, Any] | None) -> tuple[gym.Env, bool]:
    """``(env, owned)``: an env that renders ``rgb_array`` frames; ``owned`` if we made it."""
    # headless: no display, no sound card (else pygame's SDL prints errors on stderr)
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    if isinstance(env, str):
        made = gym.make(env, **dict(env_kwargs or {}))  # an unknown id raises gymnasium's error
        modes = list(made.metadata.get("render_modes", []))
        made.close()
        if "rgb_array" not in modes:
            raise ValueError(
                f"env {env!r} cannot render rgb_array frames (its render modes: {modes}); "
                "pick an environment whose metadata lists 'rgb_array'"
            )
        return gym.make(env, render_mode="rgb_array", **dict(env_kwargs or {})), True
    if not isinstance(env, gym.Env):
        raise TypeError(f"env must be a gymnasium id or a gymnasium.Env, got {type(env).__name__}")
    if env_kwargs:
        raise ValueError("env_kwargs apply only when env is an id string (the env is already made)")
    if env.render_mode != "rgb_array":
        raise ValueError(
            f"env must render rgb_array frames, but its render_mode is {env.render_mode!r}; "
            f"make it with gym.make(id, render_mode='rgb_array')"
        )
    return env, False


def _policy_function(policy: Policy, env: gym.Env, seed: int) -> Callable[[Any], Any]:
    """``obs -> action`` for each kind of policy the module accepts (see the module docstring)."""
    if policy is None:
        env.action_space.seed(seed)
        return lambda obs: env.action_space.sample()
    if hasattr(policy, "act") and callable(policy.act):
        return lambda obs: policy.act(np.asarray(obs)[None], deterministic=True)[0]
    if isinstance(policy, np.ndarray):
        n_states = getattr(env.observation_space, "n", None)
        n_actions = getattr(env.action_space, "n", None)
        if n_states is None or n_actions is None:
            raise TypeError(
                "policy: a table (S, A) needs discrete observations and actions, "
                f"got {env.observation_space} and {env.action_space}"
            )
        if policy.shape != (n_states, n_actions):
            raise ValueError(
                f"policy must have shape (S, A) = ({n_states}, {n_actions}), got {policy.shape}"
            )
        return lambda obs: int(np.argmax(policy[int(obs)]))
    if callable(policy):
        return policy
    raise TypeError(
        "policy must be None (random), an agent with .act, an (S, A) array or a callable "
        f"obs -> action, got {type(policy).__name__}"
    )


def _checked_frame(frame: object) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[-1] not in (3, 4) or frame.dtype != np.uint8:
        raise ValueError(
            f"env.render() must return an (H, W, 3) uint8 image, got {frame.dtype} {frame.shape}"
        )
    return frame[..., :3]


def record_episode(
    env: str | gym.Env,
    policy: Policy = None,
    *,
    seed: int = 0,
    max_frames: int = 200,
    every: int = 1,
    env_kwargs: Mapping[str, Any] | None = None,
) -> Episode:
    """Run one episode of ``policy`` from ``env.reset(seed=seed)`` and keep its frames.

    The frame of every ``every``-th step is kept, and always the last one, so the ending shows.
    The episode stops when it terminates or is truncated, or once ``max_frames`` frames are kept.
    ``env`` is a gymnasium id (made with ``render_mode="rgb_array"`` and ``env_kwargs``, and
    closed) or an env made that way (left open).
    """
    seed = check_seed(seed)
    max_frames = check_int("max_frames", max_frames, 1)
    every = check_int("every", every, 1)
    environment, owned = _make_env(env, env_kwargs)
    try:
        act = _policy_function(policy, environment, seed)
        obs, _ = environment.reset(seed=seed)
        episode = Episode(
            frames=[_checked_frame(environment.render())],
            steps=[0],
            render_fps=float(environment.metadata.get("render_fps") or 10.0),
        )
        t = 0
        while len(episode.frames) < max_frames:
            action = act(obs)
            if isinstance(action, np.ndarray) and action.shape == ():
                action = action.item()
            if isinstance(environment.action_space, gym.spaces.Discrete) and isinstance(
                action, np.integer
            ):
                action = int(action)
            if not environment.action_space.contains(action):
                raise ValueError(
                    f"policy returned {action!r} at step {t}, which is not an action of "
                    f"{environment.action_space}"
                )
            obs, reward, terminated, truncated, _ = environment.step(action)
            t += 1
            episode.rewards.append(float(reward))
            episode.terminated, episode.truncated = bool(terminated), bool(truncated)
            if t % every == 0 or terminated or truncated:
                episode.frames.append(_checked_frame(environment.render()))
                episode.steps.append(t)
            if terminated or truncated:
                break
        return episode
    finally:
        if owned:
            environment.close()


def episode_gif(
    env: str | gym.Env,
    policies: Policy | Mapping[str, Policy] = None,
    path: str | os.PathLike | None = None,
    *,
    seed: int = 0,
    max_frames: int = 100,
    every: int = 1,
    width: int = 200,
    fps: float | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
) -> bytes:
    """An animated GIF of one episode per policy, side by side, all from ``reset(seed=seed)``.

    ``policies`` is one policy or a dict ``{label: policy}`` (one panel each, e.g.
    ``{"untrained": None, "trained": agent}``). Each panel is ``width`` pixels wide, titled with
    its label, the step and the return so far; an episode that ends first holds its last frame.
    The GIF has as many frames as the longest recording (at most ``max_frames``) and plays at
    ``fps`` frames per second (default: the env's ``render_fps`` divided by ``every``, within
    [2, 30]). Returns the GIF's bytes, also written to ``path`` when given.
    """
    width = check_int("width", width, 16, 2000)
    if isinstance(policies, Mapping):
        if not policies:
            raise ValueError("policies must hold at least one {label: policy} entry")
        panels = {str(label): policy for label, policy in policies.items()}
    else:
        panels = {"": policies}
    episodes = {
        label: record_episode(
            env, policy, seed=seed, max_frames=max_frames, every=every, env_kwargs=env_kwargs
        )
        for label, policy in panels.items()
    }
    if fps is None:
        render_fps = next(iter(episodes.values())).render_fps
        fps = min(30.0, max(2.0, render_fps / every))
    fps = check_float("fps", fps, 0.0, 100.0, low_open=True)

    first = next(iter(episodes.values())).frames[0]
    height = round(width * first.shape[0] / first.shape[1])
    # shrink each frame once with Pillow, then draw it pixel for pixel (matplotlib's own
    # resampling of a 600 x 400 frame would dominate the time)
    for episode in episodes.values():
        episode.frames = [_resized(frame, width, height) for frame in episode.frames]
    title_px = 14 if list(panels) == [""] else 26  # one line of text, or label + status
    dpi = 100
    fig = plt.figure(figsize=(width * len(episodes) / dpi, (height + title_px) / dpi), dpi=dpi)
    images, titles = [], []
    for i, episode in enumerate(episodes.values()):
        ax = fig.add_axes((i / len(episodes), 0.0, 1 / len(episodes), height / (height + title_px)))
        ax.set_axis_off()
        images.append(ax.imshow(episode.frames[0], interpolation="nearest"))
        titles.append(
            fig.text((i + 0.5) / len(episodes), 1 - 0.5 * title_px / (height + title_px), "",
                     ha="center", va="center", fontsize=7, linespacing=1.1)
        )  # fmt: skip
    n_frames = max(len(e.frames) for e in episodes.values())
    writer = _SharedPaletteWriter(fps=fps)
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "episode.gif"
        with writer.saving(fig, str(out), dpi=dpi):
            for k in range(n_frames):
                for (label, episode), image, title in zip(episodes.items(), images, titles):
                    j = min(k, len(episode.frames) - 1)
                    step = episode.steps[j]
                    image.set_data(episode.frames[j])
                    over = episode.terminated or episode.truncated  # not cut by max_frames
                    ended = " (end)" if over and j == len(episode.frames) - 1 else ""
                    so_far = sum(episode.rewards[:step])
                    status = f"step {step}, return {so_far:g}{ended}"
                    title.set_text(f"{label}\n{status}" if label else status)
                writer.grab_frame()
        plt.close(fig)
        gif = out.read_bytes()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(gif)
    return gif


def _resized(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    from PIL import Image  # Pillow is a dependency of matplotlib

    if frame.shape[:2] == (height, width):
        return frame
    image = Image.fromarray(frame).resize((width, height), Image.Resampling.BOX)
    return np.asarray(image)


class _SharedPaletteWriter(PillowWriter):
    """matplotlib's ``PillowWriter`` with one palette for the whole GIF.

    Pillow would otherwise quantize every frame on its own (median cut, the slow part), and the
    colours could flicker between frames. The palette (at most 64 colours: these renders are flat
    drawings) is computed once from a sample of frames; every frame maps to it without dithering,
    which also keeps the file small.
    """

    def finish(self) -> None:
        from PIL import Image

        frames = [frame.convert("RGB") for frame in self._frames]
        sample = frames[:: max(1, len(frames) // 8)] + [frames[-1]]
        montage = Image.new("RGB", (frames[0].width, frames[0].height * len(sample)))
        for i, frame in enumerate(sample):
            montage.paste(frame, (0, i * frames[0].height))
        palette = montage.quantize(colors=64, method=Image.Quantize.MEDIANCUT)
        self._frames = [f.quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
        super().finish()
