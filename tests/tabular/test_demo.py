"""The tabular part of ``rlhf-edu demo``: its summary entry and its plots."""

import json

import pytest

from rlhf_edu.app.demo_tabular import run


@pytest.mark.slow
def test_demo_reports_frozenlake_success_near_the_optimum_and_writes_pngs(tmp_path):
    summary = run(tmp_path, seed=0)
    json.dumps(summary)  # summary.json-ready
    assert summary["frozenlake8x8_optimal_success"] == pytest.approx(0.913, abs=1e-3)
    assert summary["frozenlake8x8_success"] > summary["frozenlake8x8_optimal_success"] - 0.03
    assert summary["frozenlake8x8_success"] <= summary["frozenlake8x8_optimal_success"] + 1e-9
    assert len(list(tmp_path.glob("*.png"))) >= 1
