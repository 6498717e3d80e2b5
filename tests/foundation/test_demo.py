import json
import sys

import pytest

from rlhf_edu.app import demo


@pytest.fixture
def fake_tracks(tmp_path, monkeypatch):
    """Two tiny track modules standing in for the real ones (which have their own tests)."""
    package = tmp_path / "fake_demo_tracks"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "plots.py").write_text(
        "import matplotlib.pyplot as plt\n"
        "from rlhf_edu.viz import save_figure\n"
        "def run(out_dir, seed):\n"
        "    fig, ax = plt.subplots()\n"
        "    ax.plot([0, 1], [seed, seed + 1])\n"
        "    save_figure(fig, out_dir / 'fake.png')\n"
        "    return {'metric': seed + 0.5}\n"
    )
    (package / "more.py").write_text("def run(out_dir, seed):\n    return {'other': 1}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(
        demo,
        "TRACKS",
        {
            "tabular": ("fake_demo_tracks.plots",),
            "rlhf": ("fake_demo_tracks.plots", "fake_demo_tracks.more"),
            "neural": ("fake_demo_tracks.absent",),
        },
    )
    yield
    for name in [m for m in sys.modules if m.startswith("fake_demo_tracks")]:
        del sys.modules[name]


def test_demo_writes_summary_json_with_one_entry_per_track_and_pngs(tmp_path, fake_tracks):
    out = tmp_path / "run"
    summary = demo.run_tracks(out, seed=3, tracks=["tabular", "neural", "rlhf"])
    written = json.loads((out / "summary.json").read_text())
    assert written == summary
    assert written["tabular"]["metric"] == 3.5
    assert written["rlhf"]["metric"] == 3.5 and written["rlhf"]["other"] == 1
    assert "neural" not in written  # a track this version doesn't ship is skipped, not faked
    assert (out / "fake.png").exists()


def test_demo_rejects_bad_seeds(tmp_path, fake_tracks):
    with pytest.raises(ValueError, match="seed"):
        demo.run_tracks(tmp_path, seed=-5, tracks=["tabular"])
    with pytest.raises(TypeError, match="seed"):
        demo.run_tracks(tmp_path, seed="1", tracks=["tabular"])


def test_demo_refuses_an_output_path_that_is_a_file(tmp_path):
    blocker = tmp_path / "x"
    blocker.write_text("")
    with pytest.raises(NotADirectoryError, match="not a folder"):
        demo.prepare_out_dir(blocker)


def test_default_run_folder_is_timestamped_under_runs():
    path = demo.default_out_dir()
    assert path.parent.name == "runs" and path.name.startswith("demo-")


def test_every_number_the_demo_writes_is_explained_in_summary_keys_md():
    # the shape of a real run's summary.json (rlhf-edu demo, seed 0)
    summary = {
        "tabular": {
            "cliff_online_return_q_learning": -55.24,
            "cliff_online_return_sarsa": -26.77,
            "demo_seconds": 18.1,
            "frozenlake8x8_optimal_success": 0.9132,
            "frozenlake8x8_success": 0.8857,
            "frozenlake8x8_success_estimate_1000_episodes": 0.887,
            "frozenlake8x8_training_steps": 3865916,
            "frozenlake8x8_value_iteration_success": 0.8936,
            "horizon": 200,
        },
        "neural": {"cartpole_eval_return": 500.0, "demo_seconds": 57.9, "env_steps": 59904},
        "rlhf": {
            "demo_seconds": 266.0,
            "ppo": {
                "kl": 2.4,
                "reward_after": 1.36,
                "reward_before": 0.1,
                "true_utility_after": 0.58,
                "true_utility_before": -0.06,
                "updates": 25,
            },
            "reward_hacking": {
                "adaptive_KL": {"kl_after": 2.9, "reward_after": 1.35, "true_utility_after": 0.65},
                "no_KL_penalty": {
                    "kl_after": 126,
                    "reward_after": 1.69,
                    "true_utility_after": 0.47,
                },
                "seeds": [0, 1, 2],
                "updates": 60,
            },
            "reward_model": {
                "accuracy": 0.7723,
                "bayes_optimal_accuracy": 0.784,
                "expected_accuracy": 0.7733,
                "labeler": "mix (T=0.4)",
                "n_eval_pairs": 10000,
                "n_pairs": 16000,
                "reward_utility_correlation": 0.969,
            },
        },
    }
    text = demo.describe_summary(summary)
    assert "undocumented" not in text
    assert len(text.splitlines()) == 2 + len(demo.summary_leaves(summary))
    assert "`rlhf.reward_model.accuracy` = 0.7723:" in text


def test_run_tracks_writes_summary_keys_md_beside_summary_json(tmp_path, fake_tracks):
    demo.run_tracks(tmp_path, seed=0, tracks=["tabular"])
    assert (tmp_path / "summary_keys.md").read_text().startswith("# What the numbers")
