"""Portable study state: merging partial results directories, resuming from them, refusing foreign records."""

import json
import shutil

import pytest

from kerasopt import records
from kerasopt.report import write_report
from kerasopt.study import StudySpec, run_study
from kerasopt.study.__main__ import main as study_main
from kerasopt.study.merge import merge

STUDY = {"name": "portable", "task": "quadratic", "optimizers": ["sgd", "adam"],
         "search": {"others": {"learning_rate": {"log_uniform_around_default": [0.3, 3]}}},
         "tuning": {"sampler": "bracket", "spacing": 0.5, "extensions": 2, "seeds": [0]},
         "defaults_arms": ["library_defaults"], "defaults_seeds": [1], "seeds": [1, 2]}


def quiet(line):
    pass


def run_dirs(directory):
    return sorted(p.name for p in directory.iterdir() if (p / records.CONFIG).is_file())


@pytest.fixture
def full(quadratic, tmp_path):
    """The whole study run in one directory (the reference)."""
    out = tmp_path / "full"
    run_study(StudySpec.from_dict(STUDY), out_dir=out, log=quiet)
    return out


def split(full, tmp_path):
    """Two machines' partial copies: alternate completed runs in each; one run unfinished on machine A."""
    a, b = tmp_path / "a", tmp_path / "b"
    for machine in (a, b):
        machine.mkdir()
        for name in ("study.json", "plan.json"):
            shutil.copy(full / name, machine / name)
    ids = run_dirs(full)
    for index, run_id in enumerate(ids):
        shutil.copytree(full / run_id, (a if index % 2 else b) / run_id)
    unfinished = a / ids[0]  # A started the run B finished, and was cut off
    shutil.copytree(full / ids[0], unfinished)
    (unfinished / records.SUMMARY).unlink()
    return a, b


def test_a_split_study_merges_and_resumes_without_repeating_a_run(full, tmp_path):
    a, b = split(full, tmp_path)
    merged = tmp_path / "merged"
    counts = merge([a, b], merged, log=quiet)
    assert counts["runs"] == len(run_dirs(full)) and counts["copied"] == counts["runs"]
    assert all(records.is_complete(merged / run_id) for run_id in run_dirs(merged))  # completed beat unfinished
    resumed = run_study(StudySpec.from_dict(STUDY), out_dir=merged, log=quiet)
    assert resumed["executed"] == 0 and resumed["skipped"] == resumed["total"] == len(run_dirs(full))
    reference = write_report(full, tmp_path / "report_full").read_text()
    assert write_report(merged, tmp_path / "report_merged").read_text() == reference


def test_merging_carries_the_images_a_report_keeps_at_the_root(full, tmp_path):
    a, b = split(full, tmp_path)
    (a / "shown").mkdir()
    (a / "shown" / "x-result.png").write_bytes(b"png a")
    (b / "test_inputs.png").write_bytes(b"panel b")
    merge([a, b], tmp_path / "merged", log=quiet)
    assert (tmp_path / "merged" / "shown" / "x-result.png").read_bytes() == b"png a"
    assert (tmp_path / "merged" / "test_inputs.png").read_bytes() == b"panel b"


def test_merging_into_an_input_keeps_its_completed_records(full, tmp_path):
    a, b = split(full, tmp_path)
    kept = {run_id: (b / run_id / records.SUMMARY).read_bytes() for run_id in run_dirs(b)}
    counts = merge([b, a], b, log=quiet)
    assert counts["kept"] == len(kept)
    assert {run_id: (b / run_id / records.SUMMARY).read_bytes() for run_id in kept} == kept


def test_a_completed_record_replaces_a_failed_one_but_never_the_reverse(full, tmp_path):
    a, b = split(full, tmp_path)
    run_id = run_dirs(b)[0]
    shutil.copytree(b / run_id, a / run_id, dirs_exist_ok=True)
    records.write_json_atomic(a / run_id / records.SUMMARY, {"status": "failed", "metrics": {}, "error": "boom"})
    merge([a, b], a, log=quiet)
    assert records.read_summary(a / run_id)["status"] == "completed"
    merge([a, b], b, log=quiet)
    assert records.read_summary(b / run_id)["status"] == "completed"


def edit_config(run_dir, change):
    config = records.read_config(run_dir)
    change(config)
    records.write_json_atomic(run_dir / records.CONFIG, config)


@pytest.mark.parametrize("change, words", [
    (lambda c: c["settings"].update(seed=99), "has other settings than"),
    (lambda c: c["environment"]["versions"].update(kerasopt="0.0.1"), "by kerasopt 0.0.1; refusing to merge"),
])
def test_one_run_id_with_other_settings_or_versions_is_refused_in_one_line(full, tmp_path, capsys, change, words):
    a, b = split(full, tmp_path)
    run_id = run_dirs(b)[0]
    shutil.copytree(b / run_id, a / run_id, dirs_exist_ok=True)
    edit_config(a / run_id, change)
    out = tmp_path / "merged"
    assert study_main(["merge", str(a), str(b), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err
    assert str(a / run_id / records.CONFIG) in err and str(b / run_id / records.CONFIG) in err
    assert not out.exists()  # checked before anything is written


def test_results_of_another_study_are_refused(full, tmp_path, capsys):
    a, b = split(full, tmp_path)
    study = json.loads((b / "study.json").read_text())
    study["study"]["seeds"] = [1, 2, 3]
    (b / "study.json").write_text(json.dumps(study))
    assert study_main(["merge", str(a), str(b), "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert "a different study than" in err and "'seeds' differs" in err and not (tmp_path / "m").exists()


@pytest.mark.parametrize("damage", ["truncated", "foreign"])
def test_resuming_over_a_corrupt_or_foreign_record_stops_in_one_line_and_keeps_it(full, tmp_path, capsys, damage):
    run_id = run_dirs(full)[0]
    if damage == "truncated":
        path = full / run_id / records.SUMMARY
        path.write_text(path.read_text()[:20])
        expected = f"{path}: unreadable run record"
    else:
        edit_config(full / run_id, lambda c: c["settings"].update(seed=77))
        path = full / run_id / records.CONFIG
        expected = f"{path}: a record of other settings than run {run_id}"
    before = path.read_bytes()
    spec = tmp_path / "study.yaml"
    spec.write_text(json.dumps(STUDY))
    assert study_main(["run", str(spec), "--out", str(full)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expected in err
    assert path.read_bytes() == before


def test_modelled_seconds_do_not_change_when_a_run_was_slowed_down(full, tmp_path):
    import pandas as pd

    records.write_json_atomic(full / "costs.json", {"seconds_per_evaluation": {"sgd": 0.25, "adam": 0.5}})
    write_report(full, tmp_path / "before")
    plan = json.loads((full / "plan.json").read_text())
    slowed = next(r["run_id"] for r in plan["runs"] if r["phase"] == "final" and r["optimizer"] == "adam")
    history = (full / slowed / records.HISTORY).read_text().splitlines()
    header = history[0].split(",")
    column = header.index("seconds")
    rows = [line.split(",") for line in history[1:]]
    for row in rows:
        row[column] = str(float(row[column]) * 10)  # the machine was busy while this run ran
    (full / slowed / records.HISTORY).write_text("\n".join([history[0], *(",".join(r) for r in rows)]) + "\n")
    write_report(full, tmp_path / "after")
    before, after = (pd.read_csv(tmp_path / d / "time_to_target.csv") for d in ("before", "after"))
    assert list(before["median modelled seconds"]) == list(after["median modelled seconds"])
    adam = (before["optimizer"] == "adam") & (before["arm"] == "tuned")
    assert (after.loc[adam, "median wall seconds"] != before.loc[adam, "median wall seconds"]).any()
    # adam's tuned runs reach each target they reach after 2k evaluations at 0.5 s an evaluation
    reached = [value for value in before.loc[adam, "median modelled seconds"] if value != float("inf")]
    assert reached and all(value % 1 == 0 for value in reached)


def test_modelled_seconds_use_the_cost_of_each_arms_own_setting(full, tmp_path):
    import pandas as pd

    records.write_json_atomic(full / "costs.json", {"seconds_per_evaluation": {
        "adam": {"tuned": 0.5, "library_defaults": 2.0}, "sgd": {"library_defaults": 0.25}}})
    write_report(full, tmp_path / "report")
    times = pd.read_csv(tmp_path / "report" / "time_to_target.csv")
    adam, sgd = (times[(times["optimizer"] == name) & (times["arm"] == "tuned")] for name in ("adam", "sgd"))
    assert len(adam) and adam["median evaluations"].notna().all()
    assert list(adam["median modelled seconds"]) == pytest.approx(list(adam["median evaluations"] * 0.5))
    assert len(sgd) and sgd["median modelled seconds"].isna().all()  # its tuned setting was not timed
