"""Tests that read ``../shared`` skip, with one line saying why, on a clone that lacks it.

The finder is run against a fake repository root and made-up environments, so these tests never
depend on whether this machine has the shared data; the last one runs a real pytest session on a
test that asks for the fixture and checks it is reported as skipped, not failed.
"""

from __future__ import annotations

import pytest

from tests.conftest import find_shared, missing_shared_message, need_shared

pytest_plugins = ["pytester"]


@pytest.fixture()
def fake_repo(tmp_path):
    """A repository folder with nothing beside it."""
    repo = tmp_path / "clone" / "fine-tune-studio"
    repo.mkdir(parents=True)
    return repo


def test_a_clone_without_shared_finds_nothing_and_skips_with_one_line(fake_repo):
    for kind, var in (("datasets", "STUDIO_SHARED_DATASETS"), ("eval-data", "STUDIO_EVAL_DATA")):
        assert find_shared(kind, fake_repo, environ={}) is None
        with pytest.raises(pytest.skip.Exception) as skipped:
            need_shared(kind, fake_repo, environ={})
        message = str(skipped.value)
        assert message == missing_shared_message(kind, environ={})
        assert "\n" not in message
        assert message.startswith(f"needs ../shared/{kind} (") and f"set {var} to" in message


def test_a_variable_naming_a_missing_folder_is_absent_not_a_fallback(fake_repo, tmp_path):
    (fake_repo.parent / "shared" / "datasets").mkdir(parents=True)  # ../shared exists ...
    env = {"STUDIO_SHARED_DATASETS": str(tmp_path / "nonexistent")}  # ... but was overruled
    assert find_shared("datasets", fake_repo, env) is None
    with pytest.raises(pytest.skip.Exception,
                       match=r"STUDIO_SHARED_DATASETS=.*nonexistent is not a folder"):
        need_shared("datasets", fake_repo, env)
    env = {"STUDIO_SHARED_ROOT": str(tmp_path / "nonexistent")}
    assert find_shared("datasets", fake_repo, env) is None
    assert "nonexistent/datasets" in missing_shared_message("datasets", env)


def test_shared_is_found_beside_the_repo_or_where_a_variable_says(fake_repo, tmp_path):
    beside = fake_repo.parent / "shared" / "eval-data"
    beside.mkdir(parents=True)
    assert find_shared("eval-data", fake_repo, environ={}) == beside
    assert find_shared("datasets", fake_repo, environ={}) is None  # each kind on its own
    elsewhere = tmp_path / "exams"
    elsewhere.mkdir()
    assert find_shared("eval-data", fake_repo, {"STUDIO_EVAL_DATA": str(elsewhere)}) == elsewhere
    root = tmp_path / "mirror"
    (root / "datasets").mkdir(parents=True)
    assert find_shared("datasets", fake_repo, {"STUDIO_SHARED_ROOT": str(root)}) == \
        root / "datasets"
    assert need_shared("datasets", fake_repo, {"STUDIO_SHARED_ROOT": str(root)}) == \
        root / "datasets"


def test_a_test_asking_for_shared_data_is_reported_skipped(pytester, monkeypatch, tmp_path):
    monkeypatch.setenv("STUDIO_SHARED_ROOT", str(tmp_path / "nonexistent"))
    monkeypatch.delenv("STUDIO_SHARED_DATASETS", raising=False)
    monkeypatch.delenv("STUDIO_EVAL_DATA", raising=False)
    pytester.makeconftest("from tests.conftest import eval_data, shared_datasets  # noqa: F401")
    pytester.makepyfile(test_uses_shared="""
        import pytest

        @pytest.mark.parametrize("name", ["identity.json", "dpo_en_demo.json"])
        def test_dataset(shared_datasets, name):
            assert (shared_datasets / name).exists()

        def test_exam(eval_data):
            assert (eval_data / "mmlu").is_dir()

        def test_needs_nothing_shared():
            pass
    """)
    result = pytester.runpytest("-rs", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, skipped=3)
    result.stdout.fnmatch_lines([  # "[[]" is fnmatch's literal "["
        "SKIPPED [[]2] *needs */nonexistent/datasets (the project's real demo datasets); "
        "set STUDIO_SHARED_DATASETS to a folder holding them",
        "SKIPPED [[]1] *needs */nonexistent/eval-data (*exams); set STUDIO_EVAL_DATA to*",
    ])
