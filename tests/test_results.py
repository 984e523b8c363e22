"""The public loader of a study's records (`kerasopt.results.load_runs`) on a small generated records folder."""

import json
import math

import pandas as pd
import pytest

from kerasopt import records, results
from kerasopt.records import RunRecord, write_json_atomic

SPEC = {"name": "small", "task": "style", "optimizers": ["adam", "sgd"], "seeds": [1, 2]}


def write_run(root, run_id, loss, status="completed", seed=1, **metrics):
    with RunRecord(root / run_id, {"optimizer": run_id[:-1], "seed": seed}, seed=seed) as record:
        record.log({"step": 0, "evaluations": 0, "seconds": 0.0, "loss": 10.0})
        record.log({"step": 1, "evaluations": 2, "seconds": 0.5, "loss": loss})
        record.finish(status, {"loss": loss, "steps": 1, **metrics})


def role(run_id, optimizer, phase, seed, hparams=None, trial=None):
    return {"run_id": run_id, "optimizer": optimizer, "phase": phase, "trial": trial, "seed": seed,
            "hparams": hparams or {}, "config": {}}


@pytest.fixture
def small(tmp_path):
    """adam: tuned runs a1, a2 (its task defaults are the same runs); sgd: s1 diverged, s2 ended above its start
    (collapsed under the study's rule), s3 planned without a record."""
    root = tmp_path / "small"
    root.mkdir()
    write_json_atomic(root / "study.json", {"study": SPEC, "target": {"metric": "loss", "mode": "min"},
                                            "task": {"collapse": {"kind": "ended_above_start", "metric": "loss"}}})
    plan = [role(f"a{s}", "adam", phase, s) for phase in ("task_defaults", "final") for s in (1, 2)]
    plan += [role(f"s{s}", "sgd", "final", s, {"learning_rate": 0.1}, trial=0) for s in (1, 2, 3)]
    write_json_atomic(root / "plan.json", {"study": "small", "runs": plan})
    write_run(root, "a1", 1.0, seed=1, wall_seconds=3.0)
    write_run(root, "a2", 2.0, seed=2)
    write_run(root, "s1", 5.0, status="diverged", seed=1)
    write_run(root, "s2", 12.0, seed=2)
    return root


def test_one_row_per_run_with_its_roles_status_metrics_and_host(small):
    frame = results.load_runs(small)
    assert list(frame["run_id"]) == ["a1", "a2", "s1", "s2", "s3"] and frame.attrs["unreadable"] == []
    assert list(frame.columns[:len(results.RUN_COLUMNS)]) == list(results.RUN_COLUMNS)
    a1 = frame.set_index("run_id").loc["a1"]
    assert a1["phase"] == "task_defaults+final" and a1["task"] == "style" and a1["setting"] == "defaults"
    assert a1["status"] == "completed" and a1["loss"] == 1.0 and a1["steps"] == 1
    assert a1["metrics.wall_seconds"] == 3.0 and a1["wall_seconds"] > 0  # a metric named like a column
    assert a1["host"] == records.host_id(records.host_fingerprint()) and a1["settings"] == {"optimizer": "a",
                                                                                             "seed": 1}
    statuses = dict(zip(frame["run_id"], frame["status"]))
    assert statuses["s1"] == "diverged" and statuses["s2"] == records.COLLAPSED and pd.isna(statuses["s3"])
    s2 = frame.set_index("run_id").loc["s2"]
    assert "ended at 12, above its start 10" in s2["error"] and s2["loss"] == 12.0  # recorded values, any status
    assert not frame.set_index("run_id").loc["s3", "complete"] and math.isnan(frame.set_index("run_id").loc["s3", "loss"])
    assert frame.set_index("run_id").loc["s1", "learning_rate"] == 0.1


def test_roles_give_one_row_per_role_and_the_collapse_rule_can_be_turned_off(small):
    roles = results.load_runs(small, roles=True)
    assert len(roles) == 7 and list(roles[roles["run_id"] == "a1"]["phase"]) == ["task_defaults", "final"]
    plain = results.load_runs(small, collapse=None)
    assert dict(zip(plain["run_id"], plain["status"]))["s2"] == "completed"


def test_per_seed_outcomes_count_failures_as_none_and_leave_incomplete_runs_out(small):
    frame = results.load_runs(small, roles=True)
    outcomes = results.seed_outcomes(frame, ["adam", "sgd", "rmsprop"], "loss")
    assert outcomes == {"adam": {1: 1.0, 2: 2.0}, "sgd": {1: None, 2: None}, "rmsprop": {}}
    values = results.completed_values(frame, "loss")
    assert values.isna().tolist() == (frame["status"] != "completed").tolist()


def test_unreadable_files_are_named_and_their_runs_read_as_incomplete(small):
    (small / "a2" / "config.json").write_bytes(b"\xff")
    (small / "s1" / "summary.json").write_text("[1]")
    plan = json.loads((small / "plan.json").read_text())
    plan["runs"].append({"run_id": "x"})
    write_json_atomic(small / "plan.json", plan)
    frame = results.load_runs(small)
    unreadable = frame.attrs["unreadable"]
    assert any("a2/config.json: unreadable run record (UnicodeDecodeError" in line for line in unreadable)
    assert any("s1/summary.json" in line for line in unreadable) and any("1 entries without" in line
                                                                           for line in unreadable)
    complete = dict(zip(frame["run_id"], frame["complete"]))
    assert complete == {"a1": True, "a2": False, "s1": False, "s2": True, "s3": False}


def test_no_plan_gives_an_empty_frame_with_the_columns(tmp_path):
    frame = results.load_runs(tmp_path)
    assert frame.empty and list(frame.columns) == list(results.RUN_COLUMNS) and frame.attrs["unreadable"] == []
    assert isinstance(frame, pd.DataFrame)
