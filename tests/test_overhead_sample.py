"""benchmarks/overhead_sample.py: the before/after sample's study file and its seed-by-seed comparison."""

import json
from pathlib import Path

import pytest

from conftest import load_benchmark
from kerasopt.study import spec


@pytest.fixture(scope="module")
def overhead_sample():
    return load_benchmark("overhead_sample")


def write(folder: Path, run_id: str, seed: int, wall: float, setup: float, train: float, dice: float,
          status: str = "completed", phase: str = "final") -> None:
    """One final run of a sample (its record, and its role in the sample's plan.json and study.json)."""
    (folder / run_id).mkdir(parents=True)
    (folder / run_id / "config.json").write_text(json.dumps({"seed": seed, "settings": {}}))
    total = wall + setup
    (folder / run_id / "summary.json").write_text(json.dumps(
        {"status": status, "wall_seconds": wall, "setup_seconds": setup, "train_seconds": train,
         "non_training_share": 1.0 - train / total, "metrics": {"test_dice": dice, "train_seconds": train}}))
    plan = folder / "plan.json"
    runs = json.loads(plan.read_text())["runs"] if plan.is_file() else []
    runs.append({"run_id": run_id, "optimizer": "adam", "phase": phase, "trial": 0, "seed": seed,
                 "hparams": {"learning_rate": 1e-3}})
    plan.write_text(json.dumps({"runs": runs}))
    (folder / "study.json").write_text(json.dumps({"study": {"task": "defects"}, "target": {}}))


@pytest.mark.parametrize("save_model", [True, False])
def test_sample_is_a_valid_study_of_the_published_protocol(overhead_sample, tmp_path, save_model):
    import yaml

    study = overhead_sample.sample_study(10, save_model)
    path = tmp_path / "sample.yaml"
    path.write_text(yaml.safe_dump(study))
    loaded = spec.load(path)
    assert loaded.seeds == tuple(range(1, 11)) and loaded.optimizers == ("adam",)
    published = spec.load(overhead_sample.PROTOCOL).base
    assert {k: v for k, v in loaded.base.items() if k not in ("threads", "save_model")} == published
    assert loaded.base["threads"] == 1 and ("save_model" in loaded.base) is (not save_model)


def test_compare_pairs_seeds_and_ignores_timings_in_metrics(overhead_sample, tmp_path):
    before, after = tmp_path / "before", tmp_path / "after"
    write(before, "a", 1, wall=120.0, setup=5.0, train=100.0, dice=0.75)  # 1.25
    write(before, "b", 2, wall=130.0, setup=0.0, train=100.0, dice=0.70)  # 1.30
    write(before, "c", 3, wall=110.0, setup=0.0, train=100.0, dice=0.70)  # no partner: left out
    write(before, "t", 1, wall=500.0, setup=0.0, train=100.0, dice=0.10, phase="tune")  # not a final run
    write(after, "a", 1, wall=110.0, setup=0.0, train=90.0, dice=0.75)    # 1.222..., same outcome
    write(after, "b", 2, wall=100.0, setup=10.0, train=99.0, dice=0.71)   # 1.111..., outcome changed
    write(after, "d", 4, wall=1.0, setup=0.0, train=0.0, dice=0.70, status="failed")
    table = overhead_sample.compare(before, after)
    assert "| 1 | 1.250 | 1.222 | yes |" in table and "| 2 | 1.300 | 1.111 | NO |" in table
    assert "| 3 |" not in table
    assert "on 2 shared seeds: before 1.275, after 1.167" in table
    assert "identical on 1 of 2" in table


def test_compare_without_shared_seeds_says_so(overhead_sample, tmp_path):
    write(tmp_path / "before", "a", 1, wall=1.0, setup=0.0, train=1.0, dice=0.5)
    write(tmp_path / "after", "b", 2, wall=1.0, setup=0.0, train=1.0, dice=0.5)
    with pytest.raises(SystemExit, match="no completed run shares a seed"):
        overhead_sample.compare(tmp_path / "before", tmp_path / "after")
