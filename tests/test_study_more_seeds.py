"""A study adds held-out seeds where "worse than the best?" is undecided (``more_seeds``), and resumes them."""

import hashlib
import json
from dataclasses import dataclass

import pytest

from kerasopt import records, tasks
from kerasopt.config import TaskConfig
from kerasopt.study import run_study
from kerasopt.study.spec import StudySpec

MEANS = {"sgd": 1.0, "adam": 1.6}  # adam is worse (min) by 0.6, with per-seed noise of SD about 0.6


@dataclass
class NoisyConfig(TaskConfig):
    KIND = "noisy"


def noise(optimizer: str, seed: int) -> float:
    """A fixed pseudo-random value in [-1, 1] per optimizer and seed."""
    digest = hashlib.sha256(f"{optimizer}:{seed}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**31 - 1.0


def noisy_run(config, run_dir, progress=False):
    value = MEANS[config.optimizer] + noise(config.optimizer, config.seed)
    with records.RunRecord(run_dir, config.to_dict(), seed=config.seed) as record:
        record.log({"step": 1, "evaluations": 1, "seconds": 0.0, "loss": value})
        return record.finish("completed", {"loss": value})


@pytest.fixture
def noisy(monkeypatch):
    task = tasks.Task("noisy", NoisyConfig, noisy_run, {"metric": "loss", "mode": "min"}, ("loss",), ("sgd", "adam"))
    monkeypatch.setitem(tasks._BUILT, "noisy", task)
    return task


def study(**more):
    return StudySpec.from_dict({
        "name": "noisy", "task": "noisy", "optimizers": ["sgd", "adam"], "search": {"others": {"learning_rate": 0.01}},
        "defaults_arms": [], "seeds": [1, 2, 3],
        "more_seeds": {"rounds": 3, "per_round": 3, "max_seeds": 12, "min_difference": 0.1, **more}})


def test_undecided_optimizers_get_fresh_seeds_with_the_leader_and_a_resume_repeats_nothing(noisy, tmp_path):
    logged = []
    run_study(study(), out_dir=tmp_path, log=logged.append)
    plan = json.loads((tmp_path / "plan.json").read_text())
    added = [r for r in plan["runs"] if r.get("added_round")]
    assert added, logged
    rounds = sorted({r["added_round"] for r in added})
    assert rounds == list(range(1, len(rounds) + 1))
    for k in rounds:  # fresh seeds after every seed the study used, the same for both in a round
        assert {r["seed"] for r in added if r["added_round"] == k} == set(range(4 + 3 * (k - 1), 7 + 3 * (k - 1)))
    assert {r["optimizer"] for r in added} == {"sgd", "adam"}
    assert any(line.startswith("more seeds (round 1)") for line in logged)
    counts = run_study(study(), out_dir=tmp_path, log=lambda line: None)
    assert counts["executed"] == 0


def test_a_gap_below_the_smallest_difference_that_matters_adds_no_seeds(noisy, tmp_path):
    run_study(study(min_difference=5.0), out_dir=tmp_path, log=lambda line: None)
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert not [r for r in plan["runs"] if r.get("added_round")]


def test_more_seeds_is_validated(noisy):
    with pytest.raises(ValueError, match="more_seeds.per_round"):
        study(per_round=1)
    with pytest.raises(ValueError, match="more_seeds"):
        study(colour=1)
    with pytest.raises(ValueError, match="more_seeds.close_by"):
        study(close_by="median")


def test_close_by_is_part_of_the_study_only_when_given(noisy):
    assert "close_by" not in study().to_dict()["more_seeds"]  # studies written before it keep their identity
    assert study(close_by="estimate").to_dict() == study().to_dict()
    assert study(close_by="bound").to_dict()["more_seeds"]["close_by"] == "bound"


def test_more_seeds_may_be_added_to_a_finished_study_and_only_adds_runs(quadratic, tmp_path):
    from kerasopt.study import run_study
    from kerasopt.study.spec import StudySpec

    study = {"name": "m", "task": "quadratic", "optimizers": ["sgd", "adam"], "defaults_arms": [],
             "search": {"sgd": {"learning_rate": 0.1}, "adam": {"learning_rate": 0.001}}, "seeds": [1, 2, 3]}
    first = run_study(StudySpec.from_dict(study), out_dir=tmp_path, log=lambda line: None)
    more = {**study, "more_seeds": {"rounds": 1, "per_round": 4, "max_seeds": 7, "test": "sign_flip"}}
    again = run_study(StudySpec.from_dict(more), out_dir=tmp_path, log=lambda line: None)
    assert again["skipped"] == first["total"] and again["executed"] > 0  # the old runs kept, seeds added
    changed = {**more, "more_seeds": {**more["more_seeds"], "per_round": 5}}
    with pytest.raises(ValueError, match="key 'more_seeds' differs"):
        run_study(StudySpec.from_dict(changed), out_dir=tmp_path, log=lambda line: None)


def test_an_untuned_companion_may_append_seeds_and_a_tuned_study_may_not(quadratic, tmp_path):
    """Appending held-out seeds keeps every run of a study whose settings are all fixed (nothing was selected
    on the old seeds); a study that tunes is a different study with other seeds."""
    fixed = {"name": "c", "task": "quadratic", "optimizers": ["sgd"], "defaults_arms": [],
             "search": {"sgd": {"learning_rate": 0.1}}, "seeds": [1, 2], "defaults_seeds": [1, 2]}
    first = run_study(StudySpec.from_dict(fixed), out_dir=tmp_path / "fixed", log=lambda line: None)
    again = run_study(StudySpec.from_dict({**fixed, "seeds": [1, 2, 3, 4]}), out_dir=tmp_path / "fixed",
                      log=lambda line: None)
    assert again["skipped"] == first["total"] == 2 and again["executed"] == 2
    with pytest.raises(ValueError, match="key 'seeds' differs"):  # not a prefix: other seeds
        run_study(StudySpec.from_dict({**fixed, "seeds": [2, 3, 4, 5]}), out_dir=tmp_path / "fixed",
                  log=lambda line: None)
    tuned = {**fixed, "search": {"sgd": {"learning_rate": {"choice": [0.05, 0.1]}}}, "tuning": {"seeds": [0]}}
    run_study(StudySpec.from_dict(tuned), out_dir=tmp_path / "tuned", log=lambda line: None)
    with pytest.raises(ValueError, match="key 'seeds' differs"):
        run_study(StudySpec.from_dict({**tuned, "seeds": [1, 2, 3]}), out_dir=tmp_path / "tuned",
                  log=lambda line: None)
