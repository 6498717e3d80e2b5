"""The ``rlhf-edu train agent`` command and the neural plots."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from rlhf_edu.app.cli import main  # noqa: E402
from rlhf_edu.neural import load_agent  # noqa: E402
from rlhf_edu.viz.neural import curve_on_grid, plot_clipped_objective, plot_frame  # noqa: E402


@pytest.mark.parametrize("algo", ["ppo", "dqn", "a2c", "reinforce"])
def test_train_agent_command_writes_a_loadable_agent_history_and_plot(algo, tmp_path, capsys):
    assert (
        main(["train", "agent", algo, "--steps", "512", "--out", str(tmp_path), "--seed", "1"]) == 0
    )
    assert load_agent(tmp_path / "agent.pt").algo == algo
    assert (tmp_path / "history.csv").exists() and (tmp_path / "learning_curve.png").exists()
    assert "greedy-policy mean return" in capsys.readouterr().out


def test_train_agent_command_reports_a_bad_env_as_an_error(tmp_path, capsys):
    code = main(["train", "agent", "dqn", "--env", "MountainCarContinuous-v0", "--steps", "10"])
    assert code == 1
    assert "Discrete action_space" in capsys.readouterr().err


def test_curve_on_grid_averages_returns_per_bin_and_carries_the_last_forward():
    grid = [10, 20, 30]
    got = curve_on_grid([5, 8, 25], [1.0, 3.0, 7.0], grid)
    np.testing.assert_allclose(got, [2.0, 2.0, 7.0])


def test_neural_plots_return_figures_and_reject_bad_input():
    assert plot_clipped_objective(0.2) is not None
    assert plot_frame(np.zeros((10, 12, 3), dtype=np.uint8)) is not None
    with pytest.raises(ValueError, match="clip_coef"):
        plot_clipped_objective(0.0)
    with pytest.raises(ValueError, match="frame"):
        plot_frame(np.zeros((10, 12)))
