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


def test_frozenlake_labels_mark_holes_and_goal_on_the_policy_plot():
    import gymnasium as gym

    from rlhf_edu.viz.grid import toy_text_labels

    labels = toy_text_labels(gym.make("FrozenLake-v1"))
    assert labels.count("G") == 1 and labels.count("H") == 4 and labels[0] == ""
    fig = plot_policy_arrows(np.zeros(16, dtype=int), (4, 4), labels=labels)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts.count("H") == 4 and texts.count("G") == 1


def test_rlhf_headline_plots_label_their_axes_and_show_the_numbers_given():
    from rlhf_edu.viz.rlhf import plot_reward_hacking, plot_reward_model_accuracy

    fig = plot_reward_model_accuracy(0.7723, 0.784, expected_accuracy=0.7733, n_eval_pairs=100)
    ax = fig.axes[0]
    assert "accuracy" in ax.get_ylabel()
    assert {"0.7723", "0.7733"} <= {t.get_text() for t in ax.texts}
    assert any("0.7840" in line.get_label() for line in ax.get_lines())
    rows = [{"reward": 0.1 * i, "true_utility": 0.05 * i} for i in range(5)]
    fig = plot_reward_hacking(
        {"no KL penalty": [rows, rows]},
        final={"no KL penalty": {"reward": 1.5, "true_utility": 0.3}},
    )
    assert all(ax.get_ylabel() for ax in fig.axes)
    assert "1.50" in {t.get_text() for t in fig.axes[0].texts}
