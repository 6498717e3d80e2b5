from rlhf_edu.utils import progress, progress_disabled


def test_progress_is_quiet_under_pytest(monkeypatch):
    monkeypatch.delenv("RLHF_EDU_NO_PROGRESS", raising=False)
    assert progress_disabled()
    assert list(progress(range(3), desc="x")) == [0, 1, 2]


def test_progress_can_be_forced_on_and_off(monkeypatch):
    monkeypatch.setenv("RLHF_EDU_NO_PROGRESS", "0")
    assert not progress_disabled()
    monkeypatch.setenv("RLHF_EDU_NO_PROGRESS", "1")
    assert progress_disabled()


def test_progress_is_quiet_in_ci(monkeypatch):
    monkeypatch.delenv("RLHF_EDU_NO_PROGRESS", raising=False)
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    monkeypatch.setenv("CI", "true")
    assert progress_disabled()
    monkeypatch.delenv("CI")
    assert not progress_disabled()
