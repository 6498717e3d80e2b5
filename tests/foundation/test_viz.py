import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure

from rlhf_edu.viz import (
    plot_learning_curves,
    plot_policy_arrows,
    plot_value_heatmap,
    save_figure,
    smooth,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_smooth_is_a_trailing_moving_average():
    np.testing.assert_allclose(smooth(np.array([2.0, 4.0, 6.0, 8.0]), 2), [2.0, 3.0, 5.0, 7.0])
    np.testing.assert_allclose(smooth(np.array([1.0, 2.0]), 1), [1.0, 2.0])
    with pytest.raises(ValueError, match="window"):
        smooth(np.ones(3), 0)


def test_learning_curves_draw_a_band_over_seeds_and_save_png(tmp_path):
    rng = np.random.default_rng(0)
    fig = plot_learning_curves(
        {"sarsa": rng.normal(size=(5, 40)), "q-learning": rng.normal(size=40)},
        smooth_window=5,
        hline=0.0,
        save_to=tmp_path / "curves.png",
    )
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert len(ax.lines) == 3  # two means + the reference line
    assert len(ax.collections) == 1  # one band: only the multi-seed curve has one
    assert (tmp_path / "curves.png").read_bytes().startswith(PNG_MAGIC)
    matplotlib.pyplot.close(fig)


def test_learning_curves_reject_mismatched_x():
    with pytest.raises(ValueError, match="x has 3 points"):
        plot_learning_curves({"a": np.ones((2, 5))}, x=[1, 2, 3])


def test_value_heatmap_and_policy_arrows_render_on_a_grid(tmp_path):
    V = np.linspace(0, 1, 16)
    policy = np.eye(4)[np.arange(16) % 4]
    heat = plot_value_heatmap(V, (4, 4), title="V", save_to=tmp_path / "v.png")
    arrows = plot_policy_arrows(policy, (4, 4), V=V, save_to=tmp_path / "p.png")
    assert isinstance(heat, Figure) and isinstance(arrows, Figure)
    assert len(arrows.axes[0].texts) == 16  # one arrow annotation per state
    for name in ("v.png", "p.png"):
        assert (tmp_path / name).read_bytes().startswith(PNG_MAGIC)


def test_policy_arrows_skip_terminal_states():
    terminal = np.zeros(16, dtype=bool)
    terminal[[0, 15]] = True
    fig = plot_policy_arrows(np.zeros(16, dtype=int), (4, 4), terminal=terminal)
    assert len(fig.axes[0].texts) == 14


def test_grid_shape_must_hold_the_states():
    with pytest.raises(ValueError, match="does not hold the 16 states"):
        plot_value_heatmap(np.zeros(16), (3, 5))


def test_save_figure_insists_on_png(tmp_path):
    fig = plot_value_heatmap(np.zeros(4), (2, 2))
    with pytest.raises(ValueError, match="PNG"):
        save_figure(fig, tmp_path / "x.jpg")
