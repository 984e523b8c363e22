"""Run records: layout, atomic summary, completeness, failure capture."""

import json
import os
from types import SimpleNamespace

import pytest

from kerasopt import records
from kerasopt.records import RunRecord


def test_complete_run_writes_config_history_and_summary(tmp_path):
    run_dir = tmp_path / "run"
    with RunRecord(run_dir, {"optimizer": "adam", "lr": 0.1}, seed=3) as rec:
        assert not records.is_complete(run_dir)
        rec.log({"step": 1, "evaluations": 1, "seconds": 0.5, "loss": 2.0, "style_loss": 1.5})
        rec.log({"step": 2, "evaluations": 3, "seconds": 1.0, "loss": 1.0, "style_loss": 0.5})
        summary = rec.finish("completed", {"loss": 1.0}, trace_seconds=0.25)
    assert records.is_complete(run_dir)
    config = records.read_config(run_dir)
    assert config["settings"] == {"optimizer": "adam", "lr": 0.1} and config["seed"] == 3
    assert "tensorflow" in config["environment"]["versions"] and "kind" in config["environment"]["device"]
    history = records.read_history(run_dir)
    assert [row["evaluations"] for row in history] == [1.0, 3.0]
    assert list(history[0]) == ["step", "evaluations", "seconds", "loss", "style_loss"]
    on_disk = records.read_summary(run_dir)
    assert on_disk == json.loads(json.dumps(summary))
    assert on_disk["status"] == "completed" and on_disk["trace_seconds"] == 0.25
    assert on_disk["peak_rss_mb"] > 0 and on_disk["wall_seconds"] >= 0


def test_summary_write_is_atomic(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    rec = RunRecord(run_dir, {})

    def crash(*_):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        rec.finish("completed", {"loss": 1.0})
    assert not records.is_complete(run_dir)
    assert [p.name for p in run_dir.iterdir() if p.name.startswith(".summary")] == []


def test_record_without_summary_is_incomplete_and_rerun_starts_clean(tmp_path):
    run_dir = tmp_path / "run"
    rec = RunRecord(run_dir, {"a": 1})
    rec.log({"step": 1, "evaluations": 1, "seconds": 0.1, "loss": 5.0})
    assert not records.is_complete(run_dir)
    assert list(records.completed_runs(tmp_path)) == []
    with RunRecord(run_dir, {"a": 1}) as again:
        again.finish("completed")
    assert records.read_history(run_dir) == []
    assert list(records.completed_runs(tmp_path)) == [run_dir]


def test_exception_is_recorded_as_failed_with_one_line(tmp_path):
    run_dir = tmp_path / "run"
    with RunRecord(run_dir, {}) as rec:
        raise RuntimeError("boom\nsecond line")
    assert rec.summary["status"] == "failed"
    assert records.read_summary(run_dir)["error"] == "RuntimeError: boom"
    assert "Traceback" in (run_dir / "error.log").read_text()


def test_keyboard_interrupt_leaves_the_run_incomplete(tmp_path):
    run_dir = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        with RunRecord(run_dir, {}):
            raise KeyboardInterrupt
    assert not records.is_complete(run_dir)


def test_history_columns_are_validated(tmp_path):
    rec = RunRecord(tmp_path / "run", {})
    with pytest.raises(ValueError, match="lacks"):
        rec.log({"step": 1, "loss": 1.0})
    rec.log({"step": 1, "evaluations": 1, "seconds": 0.0, "loss": 1.0})
    with pytest.raises(ValueError, match="not in the first row"):
        rec.log({"step": 2, "evaluations": 2, "seconds": 0.1, "loss": 1.0, "extra": 1})


def test_status_is_validated_and_non_finite_numbers_become_null(tmp_path):
    rec = RunRecord(tmp_path / "run", {"x": float("nan")})
    with pytest.raises(ValueError, match="status"):
        rec.finish("done")
    summary = rec.finish("diverged", {"loss": float("inf")})
    assert records.read_summary(tmp_path / "run")["metrics"]["loss"] is None
    assert summary["status"] == "diverged"
    assert records.read_config(tmp_path / "run")["settings"]["x"] is None


def test_unwritable_run_directory_gives_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OSError, match="cannot create run directory"):
        RunRecord(blocker / "run", {})


FELL = {"kind": "fell_to", "metric": "val_dice", "at_most": 0.02, "after_at_least": 0.1}


@pytest.mark.parametrize("dice, collapsed", [
    ([0.38, 0.0, 0.0, 0.0, 0.0, 0.0], True),  # the published Nesterov seed 5: learnt, then lost everything
    ([0.01, 0.012, 0.009, 0.01], False),      # never learnt: a bad result, not a collapse
    ([0.2, 0.5, 0.7, 0.75], False),
    ([0.5, 0.6, 0.3, 0.02], True),
])
def test_a_run_whose_validation_dice_fell_to_zero_is_collapsed(dice, collapsed):
    history = [{"epoch": i + 1, "val_dice": d, "loss": 1.0} for i, d in enumerate(dice)]
    assert (records.collapse_reason(FELL, history) is not None) == collapsed


def test_a_loss_that_ends_above_its_start_is_collapsed_and_counts_as_such(tmp_path):
    rule = {"kind": "ended_above_start", "metric": "loss"}
    assert records.collapse_reason(rule, [{"loss": 10.0}, {"loss": 3.0}, {"loss": 12.0}]) == \
        "loss ended at 12, above its start 10"
    assert records.collapse_reason(rule, [{"loss": 10.0}, {"loss": 9.0}]) is None
    assert records.collapse_reason(None, [{"loss": 10.0}, {"loss": 12.0}]) is None
    with records.RunRecord(tmp_path / "run", {}) as record:
        for step, loss in enumerate([10.0, 4.0, 11.0]):
            record.log({"step": step, "evaluations": step, "seconds": 0.0, "loss": loss})
        record.finish("completed", {"loss": 11.0})
    assert records.outcome(tmp_path / "run", "loss", collapse=rule) == ("collapsed", None)
    assert records.outcome(tmp_path / "run", "loss", "evaluations", 1, collapse=rule) == ("completed", 4.0)
    assert records.outcome(tmp_path / "run", "loss") == ("completed", 11.0)


@pytest.mark.parametrize("content, problem", [("{trunc", "unreadable run summary"),
                                              ("[1, 2]", "not a run summary"),
                                              ('{"status": "completed"}', "not a run summary")])
def test_a_bad_summary_is_one_line_naming_its_place_from_a_file_or_from_text(tmp_path, content, problem):
    (tmp_path / "summary.json").write_text(content)
    with pytest.raises(ValueError) as from_text:
        records.parse_json_object(content, "HEAD:r/summary.json", ("status", "metrics"), "run summary")
    with pytest.raises(ValueError) as from_file:
        records.read_json_object(tmp_path / "summary.json", ("status", "metrics"), "run summary")
    for raised, where in ((from_text, "HEAD:r/summary.json"), (from_file, str(tmp_path / "summary.json"))):
        message = str(raised.value)
        assert message.startswith(f"{where}: {problem}") and "\n" not in message


def test_config_names_the_host_and_threads_and_old_records_read_as_host_unknown(tmp_path):
    with RunRecord(tmp_path / "run", {}) as rec:
        rec.finish("completed")
    environment = records.read_config(tmp_path / "run")["environment"]
    host = environment["host"]
    assert {"cpu", "cpu_flags", "cores", "kernel", "env", "versions"} <= set(host)
    assert set(host["cpu_flags"]) <= set(records.HOST_FLAGS) and host["cores"] >= 1
    assert environment["host_id"] == records.host_id(host) and len(environment["host_id"]) == 8
    assert set(environment["threads"]) == {"intra_op", "inter_op"}
    assert records.host_of(records.read_config(tmp_path / "run")) == environment["host_id"]
    assert records.host_of({"settings": {}, "environment": {"versions": {}}}) == records.UNKNOWN_HOST
    other = {**host, "cpu_flags": host["cpu_flags"] + ["amx_tile"]}
    assert records.host_id(other) != environment["host_id"]


def test_summary_has_setup_training_seconds_and_the_non_training_share(tmp_path, monkeypatch):
    clock = iter([10.0, 20.0])  # record opens at 10 (the task began at 8), finishes at 20
    monkeypatch.setattr(records, "time", SimpleNamespace(perf_counter=lambda: next(clock)))  # this module's clock only
    rec = RunRecord(tmp_path / "run", {}, started=8.0)
    rec.log({"step": 1, "evaluations": 1, "seconds": 3.0, "loss": 1.0})
    rec.log({"step": 2, "evaluations": 2, "seconds": 9.0, "loss": 0.5})
    summary = rec.finish("completed")
    assert summary["setup_seconds"] == 2.0 and summary["wall_seconds"] == 10.0
    assert summary["train_seconds"] == 9.0
    assert summary["non_training_share"] == pytest.approx(1 - 9.0 / 12.0)
    assert records.non_training_share(5.0, 0.0) is None and records.non_training_share(7.0, 5.0) == 0.0


STUCK = {"kind": "stuck", "metric": "loss", "share": 0.5, "rtol": 1e-4}


@pytest.mark.parametrize("losses, collapsed", [
    ([38332, 30000, 571328, 571329, 571328, 571330], True),  # saturated: 3 of 5 steps unchanged
    ([38332, 30000, 26650, 26650, 26651, 20000], False),  # 2 of 5: moving again
    ([500.0, 400.0, 300.0, 200.0, 100.0], False),
])
def test_a_network_stuck_at_a_constant_output_is_collapsed(losses, collapsed):
    history = [{"loss": loss} for loss in losses]
    assert (records.collapse_reason(STUCK, history) is not None) == collapsed


def test_a_classifier_that_ended_at_chance_is_collapsed_and_rules_combine():
    rule = {"kind": "at_chance", "metric": "val_accuracy", "chance": 0.1028, "tolerance": 0.01}
    dead = [{"val_accuracy": a} for a in (0.276, 0.1, 0.097, 0.1, 0.1)]
    learning = [{"val_accuracy": a} for a in (0.1, 0.2, 0.5)]
    assert "at chance (0.103)" in records.collapse_reason(rule, dead)
    assert records.collapse_reason(rule, learning) is None
    both = [{"kind": "stuck", "metric": "val_accuracy", "share": 0.9, "rtol": 0.0}, rule]
    assert records.collapse_reason(both, dead) == records.collapse_reason(rule, dead)  # the first that applies


def test_the_published_stuck_and_chance_level_runs_are_flagged():
    """Fast style's Adagrad at 0.1 (stuck at 571,328-level losses for half its steps) and the digits
    study's runs that went dead at chance level, from the committed records."""
    from pathlib import Path

    from kerasopt import tasks

    results = Path(__file__).resolve().parents[1] / "docs" / "results"
    faststyle = tasks.get("faststyle").collapse
    assert records.collapse_reason(faststyle, records.read_history(results / "faststyle/records/42fcf6a08b5c"))
    assert records.collapse_reason(faststyle, records.read_history(results / "faststyle/records/7163b74b2920"))
    digits = tasks.get("digits.py:TASK", base_dir=Path(__file__).resolve().parents[1] / "experiments").collapse
    assert digits["kind"] == "at_chance" and digits["chance"] == pytest.approx(0.1, abs=0.01)
    for run_id in ("2a4b5476bcc0", "2f538f646191", "296f760b73da", "94a48940fc26", "78365d2a4173", "c0252c274b77"):
        assert records.collapse_reason(digits, records.read_history(results / "digits/records" / run_id)), run_id


def test_runs_are_counted_per_host_and_a_study_on_another_host_says_so(tmp_path):
    from kerasopt.report.markdown import hosts_line
    from kerasopt.study.runner import other_hosts_note

    for name in ("a", "b"):
        with RunRecord(tmp_path / name, {}) as rec:
            rec.finish("completed")
    here = records.host_id(records.host_fingerprint())
    assert records.hosts(tmp_path) == {here: 2} and other_hosts_note(tmp_path) == []
    config = records.read_config(tmp_path / "b")
    config["environment"]["host"]["cpu_flags"] = ["avx512f"]  # written by a machine with other instruction sets
    records.write_json_atomic(tmp_path / "b" / "config.json", config)
    del config["environment"]["host"]  # and one written before the fingerprint existed
    (tmp_path / "c").mkdir()
    records.write_json_atomic(tmp_path / "c" / "config.json", config)
    counts = records.hosts(tmp_path)
    assert counts[here] == 1 and counts[records.UNKNOWN_HOST] == 1 and len(counts) == 3
    note = other_hosts_note(tmp_path)
    assert len(note) == 1 and note[0].startswith(f"this study continues on host {here}; ")
    assert "not bit-identical" in hosts_line(counts) and "not bit-identical" not in hosts_line({here: 2})
    env = {**records.host_fingerprint(), "env": {"OMP_NUM_THREADS": "1"}}  # a Ray worker of this machine
    assert records.host_id(env) == records.host_id({**env, "env": {}})
