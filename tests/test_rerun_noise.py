"""benchmarks/rerun_noise.py: reruns (same run id, different record) compared; copies left out."""

import json
import math
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import load_benchmark


@pytest.fixture(scope="module")
def rerun_noise():
    return load_benchmark("rerun_noise")


def write(folder: Path, run_id: str, dice: float, status: str = "completed", finished: str = "a") -> None:
    (folder / run_id).mkdir(parents=True)
    (folder / run_id / "summary.json").write_text(json.dumps(
        {"status": status, "metrics": {"test_dice": dice}, "finished": finished}))


def commit_all(repo: Path) -> None:
    """``git init`` in ``repo`` and commit everything in it."""
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(repo)]
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "records"]):
        subprocess.run([*git, *args], check=True)


def test_reruns_are_compared_and_copies_failures_and_unshared_runs_left_out(rerun_noise, tmp_path, capsys):
    first, second = tmp_path / "first", tmp_path / "second"
    for run_id, a, b in (("r1", 0.70, 0.72), ("r2", 0.75, 0.74), ("r3", 0.60, 0.66), ("r4", 0.37, 0.67)):
        write(first, run_id, a)
        write(second, run_id, b, finished="b")
    write(first, "copied", 0.5)
    write(second, "copied", 0.5)  # identical record: reused, not rerun
    write(first, "failed", 0.5, status="failed")
    write(second, "failed", 0.6, finished="b")
    write(first, "only_first", 0.5)
    pairs = rerun_noise.rerun_pairs(rerun_noise.summaries(str(first)), rerun_noise.summaries(str(second)),
                                    "test_dice")
    assert [p[0] for p in pairs] == ["r1", "r2", "r3", "r4"]
    stats = rerun_noise.spread(np.asarray([b - a for _, a, b in pairs]))
    # differences 0.02, -0.01, 0.06, 0.30: median |d| (0.02 + 0.06) / 2; without 0.30: SD of 0.02, -0.01, 0.06
    rest = np.array([0.02, -0.01, 0.06])
    assert stats["median_abs"] == pytest.approx(0.04) and stats["max_abs"] == pytest.approx(0.30)
    assert stats["sd_without_largest"] == pytest.approx(math.sqrt(((rest - rest.mean()) ** 2).sum() / 2))
    assert stats["sd_one_run"] == pytest.approx(stats["sd_without_largest"] / math.sqrt(2))
    rerun_noise.main([str(first), str(second)])
    assert "4 reruns of test_dice: median |difference| 0.0400, largest 0.3000" in capsys.readouterr().out


def test_no_shared_rerun_is_one_line(rerun_noise, tmp_path):
    write(tmp_path / "a", "x", 0.5)
    write(tmp_path / "b", "y", 0.5)
    with pytest.raises(SystemExit, match="share no rerun"):
        rerun_noise.main([str(tmp_path / "a"), str(tmp_path / "b")])


def test_a_folder_is_read_from_a_git_revision(rerun_noise, tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    write(repo / "records", "r1", 0.70)
    write(repo / "records", "r2", 0.75)
    commit_all(repo)
    (repo / "records" / "r1" / "summary.json").unlink()  # gone from the tree, still in the revision
    monkeypatch.chdir(repo)
    found = rerun_noise.summaries("HEAD:records")
    assert {run_id: s["metrics"]["test_dice"] for run_id, s in found.items()} == {"r1": 0.70, "r2": 0.75}


@pytest.mark.parametrize("case", ["missing folder", "corrupt summary", "unknown revision"])
def test_bad_input_is_one_line(rerun_noise, tmp_path, case, monkeypatch):
    good = tmp_path / "good"
    write(good, "x", 0.5)
    if case == "missing folder":
        first = str(tmp_path / "nowhere")
    elif case == "corrupt summary":
        (tmp_path / "bad" / "x").mkdir(parents=True)
        (tmp_path / "bad" / "x" / "summary.json").write_text("{trunc")
        first = str(tmp_path / "bad")
    else:
        subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
        monkeypatch.chdir(tmp_path)
        first = "no-such-revision:records"
    with pytest.raises(SystemExit) as raised:
        rerun_noise.main([first, str(good)])
    message = str(raised.value)
    assert message.startswith("error: ") and "\n" not in message.strip()


def test_a_summary_in_git_that_is_not_a_run_summary_is_named(rerun_noise, tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    (repo / "records" / "r1").mkdir(parents=True)
    (repo / "records" / "r1" / "summary.json").write_text('{"status": "completed"}')
    commit_all(repo)
    monkeypatch.chdir(repo)
    with pytest.raises(ValueError, match="HEAD:records/r1/summary.json: not a run summary"):
        rerun_noise.summaries("HEAD:records")
