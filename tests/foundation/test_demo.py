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
