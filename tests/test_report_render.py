"""The report on synthetic run records (kerasopt.records.RunRecord), without TensorFlow."""

import json
import math
import subprocess
import sys

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from kerasopt.records import RunRecord, write_json_atomic
from kerasopt.report import write_report
from kerasopt.study.__main__ import main as study_main

SPEC = {"name": "synthetic", "task": "style", "base": {"size": 32}, "optimizers": ["adam", "lbfgs", "sgd"],
        "search": {"adam": {"learning_rate": {"log_uniform": [0.01, 1.0]}}, "lbfgs": {},
                   "sgd": {"learning_rate": {"log_uniform": [0.01, 1.0]}}},
        "tuning": {"trials": 2, "sampler": "quasirandom", "seed": 0}, "defaults_arms": ["task_defaults"],
        "defaults_seeds": [1, 2, 3], "seeds": [1, 2, 3], "targets": [5.0, 1.0]}


def write_run(root, run_id, final_loss, status="completed", steps=10):
    """A linear loss history from 10 to ``final_loss``: step s costs 2 s evaluations and 0.5 s seconds."""
    with RunRecord(root / run_id, {"run": run_id}, seed=0) as record:
        for step in range(steps + 1):
            loss = 10.0 - (10.0 - final_loss) * step / steps
            record.log({"step": step, "evaluations": 2 * step, "seconds": 0.5 * step, "loss": loss})
        plt.imsave(record.artifacts / "result.png", np.full((4, 4, 3), min(final_loss / 10.0, 1.0)))
        record.finish(status, {"loss": final_loss})


def role(run_id, optimizer, phase, trial, seed, hparams):
    return {"run_id": run_id, "optimizer": optimizer, "phase": phase, "trial": trial, "seed": seed,
            "hparams": hparams, "config": {}}


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    """A synthetic study with its report written once for the module."""
    root = tmp_path_factory.mktemp("report") / "synthetic"
    root.mkdir()
    write_json_atomic(root / "study.json", {"study": SPEC, "target": {"metric": "loss", "mode": "min"},
                                            "task": {"name": "style", "result_image": "result.png"},
                                            "source": "experiments/synthetic.yaml",
                                            "warnings": ["seeds change nothing here: a reason"]})
    plan = [role("t0", "adam", "tune", 0, 0, {"learning_rate": 0.05}),
            role("t1", "adam", "tune", 1, 0, {"learning_rate": 0.5}),
            role("f1", "adam", "final", 1, 1, {"learning_rate": 0.5}),
            role("f2", "adam", "final", 1, 2, {"learning_rate": 0.5}),
            role("f3", "adam", "final", 1, 3, {"learning_rate": 0.5}),
            role("s0", "sgd", "tune", 0, 0, {"learning_rate": 0.05}),
            role("s1", "sgd", "tune", 1, 0, {"learning_rate": 0.5}),
            role("g1", "sgd", "final", 1, 1, {"learning_rate": 0.5}),
            role("g2", "sgd", "final", 1, 2, {"learning_rate": 0.5}),
            role("g3", "sgd", "final", 1, 3, {"learning_rate": 0.5})]
    plan += [role(f"ad{s}", "adam", "task_defaults", None, s, {}) for s in (1, 2, 3)]
    plan += [role(f"ld{s}", "lbfgs", phase, None, s, {}) for phase in ("task_defaults", "final") for s in (1, 2, 3)]
    write_json_atomic(root / "plan.json", {"study": "synthetic", "runs": plan})
    losses = {"t0": 9.0, "t1": 1.0, "f1": 1.0, "f2": 2.0, "f3": 3.0, "ad1": 6.0, "ad2": 7.0,
              "ld1": 4.0, "ld2": 4.5, "s0": 8.0, "s1": 2.0, "g1": 3.0, "ld3": 5.0}
    for run_id, loss in losses.items():
        write_run(root, run_id, loss)
    write_run(root, "ad3", 4000.0, status="diverged")  # a diverged run keeps its last finite loss
    write_run(root, "g2", 0.5, status="diverged")
    write_run(root, "g3", 0.5, status="failed")
    write_report(root)
    return root


def test_report_tables_hold_t_intervals_over_completed_runs_only(study_dir):
    path = study_dir / "report.md"
    summary = pd.read_csv(study_dir / "summary.csv")
    adam = summary[(summary.optimizer == "adam") & (summary.arm == "tuned")].iloc[0]
    # mean 2, s = 1, t_{0.975, 2} = 4.3027: half width 4.3027 / sqrt(3) = 2.4841
    assert (adam["loss"], adam["loss_low"], adam["loss_high"]) == pytest.approx((2.0, -0.4841, 4.4841), abs=1e-4)
    assert adam["setting"] == "learning_rate=0.5" and adam["completed"] == 3 and adam["trial"] == 1
    assert adam["seeds"] == "1 2 3"
    defaults = summary[(summary.optimizer == "adam") & (summary.arm == "task_defaults")].iloc[0]
    # the diverged 4000 is counted, never averaged
    assert defaults["loss"] == pytest.approx(6.5) and (defaults["completed"], defaults["diverged"]) == (2, 1)
    sgd = summary[(summary.optimizer == "sgd") & (summary.arm == "tuned")].iloc[0]
    assert (sgd["completed"], sgd["diverged"], sgd["failed"]) == (1, 1, 1) and sgd["loss"] == 3.0
    assert math.isnan(sgd["loss_low"])  # one completed run: no interval
    text = path.read_text()
    assert "tuned loss mean [95% CI]" in text
    assert "| 1 | [1, 1] | adam | learning_rate=0.5 | 2 | 2 [-0.4841, 4.484] | 3/0/0/0 | 0/3 | best |" in text
    assert "Tuning budget: 2 trials" in text and "> **Note:** seeds change nothing here" in text


def test_mostly_failed_optimizers_rank_last_and_pairs_are_compared_by_seed(study_dir):
    main = pd.read_csv(study_dir / "main_table.csv")
    # sgd's single completed run (3.0) is no better than lbfgs's mean, but 2 of its 3 runs did not complete:
    # its median over all three seeds, failures counting as the worst value, is the worst
    assert list(main["optimizer"]) == ["adam", "lbfgs", "sgd"]
    sgd = main[main.optimizer == "sgd"].iloc[0]
    assert sgd["failure rate"] == "2/3" and sgd["tuned loss median, failures worst"] == "worst (most runs failed)"
    assert sgd["worse than the best? (5% family-wise)"] == "not established at 1 seed"
    lbfgs = main[main.optimizer == "lbfgs"].iloc[0]
    # per-seed differences lbfgs - adam: 4-1, 4.5-2, 5-3 = 3, 2.5, 2: mean 2.5, s = 0.5
    half = 4.302653 * 0.5 / math.sqrt(3)
    assert lbfgs["paired diff. to best [95% CI]"] == f"2.5 [{2.5 - half:.4g}, {2.5 + half:.4g}] (n=3)"
    # paired t = 2.5 / (0.5 / sqrt(3)) = 8.660 with 2 df: p = 0.01307; sgd has one completed seed, so the only
    # pair with two shared seeds is (adam, lbfgs): Holm over one test, significant
    assert lbfgs["worse than the best? (5% family-wise)"] == "yes (worse than adam)"
    assert lbfgs["rank [95% bootstrap]"] == "[2, 3]"
    assert main[main.optimizer == "adam"].iloc[0]["paired diff. to best [95% CI]"] == "best"


def test_time_to_target_table_uses_medians_over_seeds(study_dir):
    table = pd.read_csv(study_dir / "time_to_target.csv")
    tuned = table[(table.optimizer == "adam") & (table.arm == "tuned")].set_index("target")
    # loss 10 - (10 - v) s / 10 <= 5 first at s = 6, 7, 8 for v = 1, 2, 3: median 7
    assert tuned.loc[5.0, "reached"] == "3/3"
    sgd = table[(table.optimizer == "sgd") & (table.arm == "tuned")].set_index("target")
    assert sgd.loc[5.0, "reached"] == "1/1"  # only completed runs count
    assert (tuned.loc[5.0, "median step"], tuned.loc[5.0, "median evaluations"],
            tuned.loc[5.0, "median wall seconds"]) == (7.0, 14.0, 3.5)
    assert tuned.loc[1.0, "reached"] == "1/3" and np.isinf(tuned.loc[1.0, "median step"])
    assert "not reached" in (study_dir / "report.md").read_text()


def test_report_writes_every_figure(study_dir):
    for name in ("lr_sensitivity", "curves_step", "curves_evaluations", "curves_seconds", "image_grid"):
        assert (study_dir / f"{name}.png").stat().st_size > 1000
        assert f"({name}.png)" in (study_dir / "report.md").read_text()


def test_the_shown_result_images_are_kept_so_records_without_artifacts_regenerate_the_report(study_dir, tmp_path):
    import shutil

    from kerasopt.report.shown import keep_shown

    records_dir = tmp_path / "records"
    shutil.copytree(study_dir, records_dir)
    assert not (records_dir / "shown").exists()  # the report wrote nothing into the records
    written = keep_shown(records_dir)  # what the study runner does after its runs
    shown = sorted(p.name for p in (records_dir / "shown").iterdir())
    assert shown and all(name.endswith("-result.png") for name in shown) and len(written) == len(shown)
    assert keep_shown(records_dir) == []  # identical copies are left alone
    committed = tmp_path / "committed"  # what a clone has: records without their artifacts
    shutil.copytree(records_dir, committed, ignore=shutil.ignore_patterns("artifacts"))
    for path in committed.iterdir():
        if path.suffix in (".md", ".csv", ".png"):
            path.unlink()  # the report's own outputs
    text = write_report(committed, tmp_path / "again").read_text()
    assert text == (study_dir / "report.md").read_text() and (tmp_path / "again" / "image_grid.png").is_file()
    assert (tmp_path / "again" / "image_grid.png").read_bytes() == (study_dir / "image_grid.png").read_bytes()


def _tree(root):
    """path -> (bytes, mtime) of every file below ``root``."""
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_reading_and_reporting_records_writes_nothing_into_them(study_dir, tmp_path):
    """The report, its loader and the summary read the records folder and write only into their output folder,
    the folder made read-only for good measure (root ignores the permission, so the files are compared too)."""
    import os
    import shutil

    from kerasopt import results
    from kerasopt.report.summary import write_summary

    records_dir = tmp_path / "records"
    shutil.copytree(study_dir, records_dir)
    for path in records_dir.iterdir():
        if path.suffix in (".md", ".csv", ".png"):
            path.unlink()  # the fixture's report, written beside its records
    before = _tree(records_dir)
    modes = {p: p.stat().st_mode for p in [records_dir, *records_dir.rglob("*")]}
    for path in modes:
        path.chmod(modes[path] & ~0o222)
    try:
        results.load_runs(records_dir)
        write_report(records_dir, tmp_path / "report")
        write_summary([records_dir], tmp_path / "summary")
    finally:
        for path, mode in modes.items():
            os.chmod(path, mode)
    assert _tree(records_dir) == before
    assert (tmp_path / "report" / "report.md").is_file() and (tmp_path / "report" / "image_grid.png").is_file()


def test_report_cli_on_a_directory_without_a_study(tmp_path, capsys):
    assert study_main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "study.json: not found" in err and len(err.splitlines()) == 1


def test_report_does_not_import_tensorflow(study_dir):
    code = (f"import sys; from kerasopt.report import write_report; write_report({str(study_dir)!r}); "
            "sys.exit('tensorflow' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_report_lists_the_protocol(study_dir):
    text = (study_dir / "report.md").read_text()
    assert '- `adam`: `{"learning_rate": {"log_uniform": [0.01, 1.0]}}`' in text
    assert "tuning seeds [0]; final (held-out) seeds [1, 2, 3]; defaults-arm seeds [1, 2, 3]" in text
    assert "experiments/synthetic.yaml" in text
    roles = json.loads((study_dir / "plan.json").read_text())["runs"]
    assert len(pd.read_csv(study_dir / "runs.csv")) == len(roles)


def test_a_study_with_fixed_settings_says_it_did_not_tune(study_dir, tmp_path):
    import shutil

    fixed = tmp_path / "fixed"
    shutil.copytree(study_dir, fixed)
    study = json.loads((fixed / "study.json").read_text())
    study["study"]["search"] = {"adam": {"learning_rate": 0.5}, "lbfgs": {}, "sgd": {"learning_rate": 0.5}}
    write_json_atomic(fixed / "study.json", study)
    text = write_report(fixed, tmp_path / "out").read_text()
    assert "Held-out seeds [1, 2, 3] (settings fixed by the study file, not tuned here;" in text
    assert "- Seeds: [1, 2, 3]; defaults-arm seeds [1, 2, 3]." in text and "- Tuning: none (" in text
    assert "tuning seeds" not in text.split("## Tuning")[0] + text.split("## Protocol")[1]


def test_unreadable_run_files_are_named_and_left_out(study_dir, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(study_dir, copy)
    (copy / "f1" / "summary.json").write_text("{not json")
    (copy / "f2" / "summary.json").write_text("[1, 2]")
    plan = json.loads((copy / "plan.json").read_text())
    plan["runs"].append({"run_id": "x"})  # missing keys
    write_json_atomic(copy / "plan.json", plan)
    write_report(copy)
    text = (copy / "report.md").read_text()
    assert "Unreadable run files" in text and "f1/summary.json: unreadable run summary (JSONDecodeError" in text
    assert "f2/summary.json: not a run summary" in text and "1 entries without the keys" in text
    adam = pd.read_csv(copy / "summary.csv").query("optimizer == 'adam' and arm == 'tuned'").iloc[0]
    assert adam["loss"] == 3.0 and adam["incomplete"] == 2


def test_a_non_utf8_history_or_per_image_file_is_named_and_the_rest_of_the_report_written(study_dir, tmp_path):
    """A study with a collapse rule reads every completed run's history; a per-image file feeds the image
    resampling: a corrupt one of either names its file in the report (not an anonymous codec error)."""
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(study_dir, copy)
    study = json.loads((copy / "study.json").read_text())
    study["task"]["collapse"] = {"kind": "ended_above_start", "metric": "loss"}
    write_json_atomic(copy / "study.json", study)
    (copy / "f1" / "history.csv").write_bytes(b"\xff\xfe step,loss\n")
    (copy / "f2" / "test_images.csv").write_bytes(b"image,tp,fp,fn\n0,\xff,1,2\n")
    write_report(copy)
    text = (copy / "report.md").read_text()
    assert "f1/history.csv: unreadable run history (UnicodeDecodeError" in text
    assert "f2/test_images.csv: unreadable per-image counts file" in text
    assert "## Final" in text  # the rest of the report is there


def test_records_name_the_file_they_cannot_read(tmp_path):
    from kerasopt import records

    (tmp_path / "history.csv").write_bytes(b"step,loss\n\xff1,2\n")
    with pytest.raises(ValueError, match=r"history.csv: unreadable run history \(UnicodeDecodeError"):
        records.read_history(tmp_path)
    (tmp_path / "test_images.csv").write_text("image,tp\n0,1\n")
    with pytest.raises(ValueError, match=r"test_images.csv: unreadable per-image counts file \(KeyError"):
        records.read_per_image(tmp_path)
    for name, reader in (("summary.json", records.read_summary), ("config.json", records.read_config)):
        (tmp_path / name).write_bytes(b"{\xff}")
        with pytest.raises(ValueError, match=rf"{name}: unreadable run record"):
            reader(tmp_path)


@pytest.mark.parametrize("content, message", [("[1]", "study.json: not a study record (expected a JSON object"),
                                              ('{"study": [], "target": {}}', "study.json: not a study record")])
def test_broken_study_json_is_one_line(tmp_path, capsys, content, message):
    (tmp_path / "study.json").write_text(content)
    assert study_main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_defects_headline_is_test_dice_while_validation_only_selects(tmp_path):
    """Selection on val_dice, answer in test metrics: the tuned trial with the best validation Dice is
    chosen, but the table and its ranking are by test Dice of the held-out reruns."""
    root = tmp_path / "defects"
    root.mkdir()
    spec = {**SPEC, "task": "defects", "optimizers": ["adam", "sgd"], "targets": [],
            "search": {"adam": {}, "sgd": {}}}
    headline = ["test_dice", "test_dice_at_best", "test_iou", "test_precision", "test_recall"]
    write_json_atomic(root / "study.json", {"study": spec, "target": {"metric": "val_dice", "mode": "max"},
                                            "task": {"name": "defects", "headline": headline}})
    plan = [role(f"{o}{s}", o, "final", 0, s, {"learning_rate": 0.1}) for o in ("adam", "sgd") for s in (1, 2, 3)]
    write_json_atomic(root / "plan.json", {"runs": plan})
    for optimizer, val, test in (("adam", 0.9, 0.5), ("sgd", 0.5, 0.7)):  # validation and test disagree
        for seed in (1, 2, 3):
            with RunRecord(root / f"{optimizer}{seed}", {}, seed=seed) as record:
                record.log({"step": 1, "evaluations": 1, "seconds": 1.0, "loss": 1.0, "val_dice": val})
                record.finish("completed", {"val_dice": val, **{m: test + 0.01 * seed for m in headline}})
    write_report(root)
    main = pd.read_csv(root / "main_table.csv")
    assert list(main["optimizer"]) == ["sgd", "adam"]  # ranked by test Dice, not by validation Dice
    assert "tuned test_dice mean [95% CI]" in main.columns
    assert main.iloc[0]["tuned test_dice mean [95% CI]"].startswith("0.72 [")
    text = (root / "report.md").read_text()
    assert "headline metric `test_dice`" in text and "selection used `val_dice`" in text
    assert list(pd.read_csv(root / "headline.csv").columns) == ["optimizer", *headline]


def test_defect_reports_put_each_optimizers_predicted_masks_under_the_true_ones(tmp_path):
    from PIL import Image

    root = tmp_path / "defects"
    root.mkdir()
    spec = {**SPEC, "task": "defects", "optimizers": ["adam", "sgd"], "targets": []}
    write_json_atomic(root / "study.json", {"study": spec, "target": {"metric": "loss", "mode": "min"},
                                            "task": {"name": "defects", "headline": ["loss"],  # as the task declares
                                                     "result_image": "test_predictions.png",
                                                     "shared_image": "test_inputs.png"}})
    plan = [role(f"{name}{seed}", name, "final", 0, seed, {}) for name in ("adam", "sgd") for seed in (1, 2)]
    write_json_atomic(root / "plan.json", {"study": "defects", "runs": plan})
    for index, entry in enumerate(plan):
        write_run(root, entry["run_id"], 1.0 + index)
        strip = np.zeros((8, 32), bool)
        strip[:, : 8 * (index + 1)] = True  # a different mask per run
        Image.fromarray(strip).convert("1").save(root / entry["run_id"] / "artifacts" / "test_predictions.png")
    inputs = np.full((16, 32, 3), 128, np.uint8)
    Image.fromarray(inputs).save(root / "adam2" / "artifacts" / "test_inputs.png")
    out = tmp_path / "published"
    text = write_report(root, out).read_text()
    assert "![result_grid](result_grid.png)" in text and (out / "result_grid.png").is_file()
    assert not (root / "test_inputs.png").exists() and not (root / "report.md").exists()  # the records are only read
    from kerasopt.report.shown import keep_shown

    keep_shown(root)  # the study runner keeps the shared panel at the root: the committed records regenerate the grid
    assert (root / "test_inputs.png").is_file()


def test_a_defaults_arm_that_beats_the_tuned_arm_is_shown_with_what_tuning_saw(tmp_path):
    """Tuning on seed 0 preferred lr 0.5 (loss 1.0) over the default 0.05 (loss 1.2); on the held-out
    seeds the default does better: the report lists it with both tuning-seed means."""
    root = tmp_path / "beaten"
    root.mkdir()
    spec = {**SPEC, "optimizers": ["adam"], "search": {"adam": SPEC["search"]["adam"]}, "targets": []}
    write_json_atomic(root / "study.json", {"study": spec, "target": {"metric": "loss", "mode": "min"}})
    plan = [role("t0", "adam", "tune", 0, 0, {"learning_rate": 0.05}), role("t1", "adam", "tune", 1, 0, {"learning_rate": 0.5})]
    plan += [role(f"f{s}", "adam", "final", 1, s, {"learning_rate": 0.5}) for s in (1, 2, 3)]
    plan += [role(f"d{s}", "adam", "task_defaults", None, s, {}) for s in (1, 2, 3)]
    write_json_atomic(root / "plan.json", {"study": "beaten", "runs": plan, "selection": {
        "adam": {"tuned": True, "trial": 1, "hparams": {"learning_rate": 0.5}, "score": 1.0, "trials": 2,
                 "extensions": 0, "bracket": {"learning_rate": "bracketed"}}}})
    losses = {"t0": 1.2, "t1": 1.0, "f1": 3.0, "f2": 3.2, "f3": 3.1, "d1": 1.0, "d2": 1.1, "d3": 0.9}
    for run_id, loss in losses.items():
        write_run(root, run_id, loss)
    for s in (1, 2, 3):  # the defaults arm was built with the task default lr 0.05
        config = json.loads((root / f"d{s}" / "config.json").read_text())
        config["settings"]["resolved_hparams"] = {"learning_rate": 0.05, "beta_1": 0.9}
        (root / f"d{s}" / "config.json").write_text(json.dumps(config))
    text = write_report(root).read_text()
    row = next(line for line in text.splitlines() if line.startswith("| adam | task_defaults |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[2] == "1 2 3" and cells[3].startswith("1 [") and cells[4].startswith("3.1 [")
    assert cells[5] == "learning_rate=0.5" and float(cells[6]) == 1.0 and float(cells[7]) == pytest.approx(1.2)
    assert "could not tell the two settings apart" in text


@pytest.mark.parametrize("same_runs", [False, True], ids=["own runs", "the tuned arm's runs"])
def test_defaults_arms_are_judged_on_the_seeds_they_share_with_the_tuned_arm(tmp_path, same_runs):
    """The tuned arm got 5 added seeds that went badly (loss 3): over every seed its interval lies above the
    defaults arm's mean, but on the defaults arm's seeds 1-3 the two arms are equal (losses 1.0, 1.1, 0.9),
    so nothing beats; with tuning selecting the defaults (the same runs) the arm is not compared at all."""
    root = tmp_path / "shared"
    root.mkdir()
    spec = {**SPEC, "optimizers": ["adam"], "search": {"adam": SPEC["search"]["adam"]}, "targets": []}
    write_json_atomic(root / "study.json", {"study": spec, "target": {"metric": "loss", "mode": "min"}})
    plan = [role("t0", "adam", "tune", 0, 0, {"learning_rate": 0.5})]
    plan += [role(f"f{s}", "adam", "final", 0, s, {"learning_rate": 0.5}) for s in (1, 2, 3)]
    plan += [{**role(f"f{s}", "adam", "final", 0, s, {"learning_rate": 0.5}), "added_round": 1} for s in range(4, 9)]
    plan += [role(f"f{s}" if same_runs else f"d{s}", "adam", "task_defaults", None, s, {}) for s in (1, 2, 3)]
    write_json_atomic(root / "plan.json", {"study": "shared", "runs": plan, "selection": {
        "adam": {"tuned": True, "trial": 0, "hparams": {"learning_rate": 0.5}, "score": 1.0, "trials": 1,
                 "extensions": 0, "bracket": {"learning_rate": "bracketed"}}}})
    losses = {"t0": 1.0, "f1": 1.0, "f2": 1.1, "f3": 0.9, **{f"f{s}": 3.0 for s in range(4, 9)}}
    losses |= {} if same_runs else {"d1": 1.0, "d2": 1.1, "d3": 0.9}
    for run_id, loss in losses.items():
        write_run(root, run_id, loss)
    text = write_report(root).read_text()
    assert "| adam | task_defaults |" not in text.split("## Tuning")[1].split("## Time to target")[0]
    assert "No defaults arm beats its tuned arm by more than the tuned interval, on the held-out seeds" in text


def test_no_defaults_arm_beating_the_tuned_arm_is_said_plainly(study_dir):
    assert "No defaults arm beats its tuned arm by more than the tuned interval, on the held-out seeds the defaults " \
        "arm ran" in (study_dir / "report.md").read_text()


def test_held_out_seeds_count_a_failed_added_seed_as_added():
    """An added seed whose run collapsed is still an added seed: 5 + 5 added, not 6 + 4."""
    from kerasopt.stats import verdicts
    from kerasopt.report.tables import arm_table, main_table
    rows = []
    for name, base in (("adam", 0.80), ("sgd", 0.70)):
        for seed in (1, 2, 3, 4, 5, 11, 12, 13, 14, 15):
            collapsed = name == "sgd" and seed == 15
            rows.append({"run_id": f"{name}{seed}", "optimizer": name, "phase": "final", "trial": 0, "seed": seed,
                         "setting": "learning_rate=0.1", "complete": True,
                         "status": "collapsed" if collapsed else "completed",
                         "dice": math.nan if collapsed else base + 0.01 * (seed % 3)})
    runs = pd.DataFrame(rows)
    rule = verdicts.MoreSeeds(rounds=2, per_round=5, max_seeds=15, min_difference=0.02)
    table = main_table(runs, arm_table(runs, ["adam", "sgd"], ["dice"]), ["adam", "sgd"], "dice", "max",
                       [1, 2, 3, 4, 5], rule)
    sgd = table[table.optimizer == "sgd"].iloc[0]
    assert sgd["held-out seeds"] == "5 + 5 added" and sgd["failure rate"] == "1/10"
    assert table[table.optimizer == "adam"].iloc[0]["held-out seeds"] == "5 + 5 added"


def test_ranks_use_the_seeds_every_optimizer_shares_so_added_seeds_cannot_flip_rank_one():
    """a leads b on the study's own seeds 1-5; ten added seeds (a's only) are worse and would put b first."""
    from kerasopt.report.tables import main_table, arm_table, rank_on_shared_seeds
    from kerasopt.stats import verdicts
    from kerasopt.stats.ranking import rank_order

    rows = [{"run_id": f"a{s}", "optimizer": "a", "phase": "final", "seed": s, "metric": 0.80 + 0.001 * s}
            for s in range(1, 6)]
    rows += [{"run_id": f"a{s}", "optimizer": "a", "phase": "final", "seed": s, "metric": 0.70} for s in range(6, 16)]
    rows += [{"run_id": f"b{s}", "optimizer": "b", "phase": "final", "seed": s, "metric": 0.79 + 0.001 * s}
             for s in range(1, 6)]
    runs = pd.DataFrame(rows).assign(complete=True, status="completed", setting="lr=1", trial=0,
                                     incomplete=0, hparams=[{}] * len(rows))
    assert rank_order({"a": dict(zip(range(1, 16), [r["metric"] for r in rows[:15]])),
                                "b": {s: 0.79 for s in range(1, 6)}}, "max") == ["b", "a"]  # all seeds: b first
    order = rank_on_shared_seeds(runs, ["a", "b"], "metric", [1, 2, 3, 4, 5], "max")
    assert order == ["a", "b"]
    table = main_table(runs, arm_table(runs, ["a", "b"], ["metric"]), order, "metric", "max", [1, 2, 3, 4, 5],
                       verdicts.MoreSeeds(rounds=2))
    first = table.iloc[0]
    assert first["optimizer"] == "a" and first["tuned metric median, failures worst"] == pytest.approx(0.803)
    assert first["tuned metric median on every seed (added too)"] == pytest.approx(0.70)
    assert first["held-out seeds"] == "5 + 10 added"


def test_a_declared_reanalysis_rejudges_the_report_and_says_so(tmp_path):
    from kerasopt.stats import verdicts
    from kerasopt.report.markdown import reanalysis_words
    from kerasopt.study import spec as study_spec

    study = {"name": "r", "task": "faststyle", "optimizers": ["adam"], "seeds": [1, 2],
             "search": {"adam": {"learning_rate": {"log_uniform_around_default": [0.3, 3]}}},
             "more_seeds": {"rounds": 1}}
    plain = study_spec.StudySpec.from_dict(study, source="r.yaml").to_dict()
    again = study_spec.StudySpec.from_dict({**study, "reanalysis": {"test": "sign_flip", "declared": "2026-12-07",
                                                                    "why": "noise is not Gaussian"}},
                                           source="r.yaml").to_dict()
    assert verdicts.report_rule(plain).test == "t" and verdicts.report_rule(again).test == "sign_flip"
    words = reanalysis_words(again)
    assert "Re-analysis declared 2026-12-07" in words and "exact paired sign-flip test instead of the study's own " \
        "paired t test (noise is not Gaussian)" in words and "not chosen by the new test" in words
    with pytest.raises(ValueError, match="reanalysis.why: missing"):
        study_spec.StudySpec.from_dict({**study, "reanalysis": {"test": "sign_flip", "declared": "x"}}, source="r")
    from kerasopt.study.runner import REPORT_ONLY_KEYS
    assert "reanalysis" in REPORT_ONLY_KEYS  # a resumed study keeps its runs


def test_an_undecided_verdict_on_fresh_seeds_gives_their_number_and_p():
    from kerasopt.stats import verdicts

    verdict = verdicts.Verdict(seeds=15, added=10, why="cap", p=0.0024)
    assert verdicts.verdict_text(verdict, False) == "undecided on 10 fresh seeds (p = 0.0024); seed cap reached"


def test_a_companion_protocol_is_compared_per_optimizer_on_shared_seeds():
    from kerasopt.report.companion import comparison_table

    mine = {"a": {1: 0.9, 2: 0.8, 3: 0.7, 9: 0.1}, "b": {1: 0.5, 2: 0.5, 3: None}, "c": {1: 0.2}}
    theirs = {"a": {1: 0.8, 2: 0.7, 3: 0.6}, "b": {1: 0.6, 2: 0.4, 3: 0.5}}
    table = comparison_table(mine, theirs, [1, 2, 3], "max").set_index("optimizer")
    assert list(table.index) == ["a", "b"]  # c is not in the companion; seed 9 is not a shared held-out seed
    assert table.loc["a", "median here"] == pytest.approx(0.8) and table.loc["a", "median, companion"] == 0.7
    assert table.loc["a", "paired difference [95% CI]"].startswith("0.1 [")  # +0.1 on each of 3 seeds
    assert table.loc["a", "sign-flip p (two-sided)"] == pytest.approx(2 / 8)
    assert table.loc["b", "median here"] == 0.5  # the failed seed 3 counts as the worst value: median 0.5
    assert table.loc["b", "paired difference [95% CI]"].endswith("(n=2)")  # only the seeds both completed


def test_a_companion_comparison_pairs_every_seed_both_arms_ran_and_ranks_on_held_out_ones():
    """Seeds added to both arms join the paired test (n grows, p can fall below 5 seeds' floor of 1/16); the
    medians stay on the held-out seeds; a seed only one arm ran is not paired."""
    from kerasopt.report.companion import comparison_table

    mine = {"a": {s: 1.0 + 0.1 * s for s in range(1, 11)} | {12: 9.0}}
    theirs = {"a": {s: 0.1 * s for s in range(1, 11)}}
    table = comparison_table(mine, theirs, [1, 2, 3, 4, 5], "max").set_index("optimizer")
    assert table.loc["a", "median here"] == pytest.approx(1.3) and table.loc["a", "median, companion"] == pytest.approx(0.3)
    assert table.loc["a", "paired difference [95% CI]"].endswith("(n=10)")
    assert table.loc["a", "sign-flip p (two-sided)"] == pytest.approx(2 / 2 ** 10)


def test_the_report_gives_the_non_training_share_and_the_hosts(study_dir):
    text = (study_dir / "report.md").read_text()
    assert "Non-training share of a run's seconds (setup, tracing, evaluation, saving): median " in text
    assert "Hosts (run records per host fingerprint): " in text


def test_a_companion_without_records_yet_is_said(tmp_path):
    from kerasopt.report.companion import companion_lines

    study = {"study": {"compare_to": {"study": "nowhere/records", "label": "the constant rate"}},
             "source": str(tmp_path / "x.yaml")}
    lines = companion_lines(study, tmp_path, tmp_path)
    assert lines[0] == "## Against the constant rate" and "has no records yet" in lines[2]
    assert companion_lines({"study": {}}, tmp_path, tmp_path) == []


@pytest.mark.parametrize("name, what", [("summary.json", "unreadable run summary"),
                                        ("config.json", "unreadable run record"),
                                        ("history.csv", "unreadable run history"),
                                        ("test_images.csv", "unreadable per-image counts file")])
def test_a_non_utf8_file_in_one_run_record_is_named_and_the_rest_of_the_report_written(study_dir, tmp_path, name,
                                                                                      what):
    """Each file of a run record a report reads, not valid UTF-8 in one tuned run (no collapse rule, so a history
    is read for the curves only): the report names the file in one line and reports everything else."""
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(study_dir, copy)
    (copy / "f2" / name).write_bytes(b"\xff\xfe{not text\n")
    text = write_report(copy, tmp_path / "report").read_text()
    assert f"f2/{name}: {what} (UnicodeDecodeError" in text
    assert "## Final loss per optimizer (ranked)" in text and "## Time to target" in text
    adam = pd.read_csv(tmp_path / "report" / "summary.csv").query("optimizer == 'adam' and arm == 'tuned'").iloc[0]
    left_out = name in ("summary.json", "config.json")  # the run's result cannot be trusted: left out
    assert adam["completed"] == (2 if left_out else 3) and adam["incomplete"] == (1 if left_out else 0)


def test_companion_outcomes_read_the_headline_when_it_is_the_selection_metric(study_dir):
    """Fast style and style answer with their selection metric (val_loss, loss): the loaded frame holds it as
    ``metric``, which the companion comparison once missed (a KeyError, found on faststyle_modern)."""
    from kerasopt.report.companion import final_outcomes
    from kerasopt.report.load import headline_column

    assert headline_column("loss", ["loss"]) == "metric" and headline_column("val_dice", ["test_dice"]) == "test_dice"
    outcomes, mode, _ = final_outcomes(study_dir)
    assert mode == "min" and outcomes["adam"] and all(value is not None for value in outcomes["adam"].values())


def test_a_report_written_while_added_seeds_run_says_the_verdict_waits_for_them():
    """a's round of added seeds (6, 7) has finished, b's has not: b's verdict must not read 'no round left'."""
    from kerasopt.report.tables import main_table, arm_table
    from kerasopt.stats import verdicts

    rows = [{"run_id": f"a{s}", "optimizer": "a", "seed": s, "metric": 0.80 + 0.001 * s, "status": "completed"}
            for s in range(1, 8)]
    rows += [{"run_id": f"b{s}", "optimizer": "b", "seed": s, "metric": 0.70 + 0.02 * (s % 2), "status": "completed"}
             for s in range(1, 6)]
    rows += [{"run_id": f"b{s}", "optimizer": "b", "seed": s, "metric": float("nan"), "status": None} for s in (6, 7)]
    runs = pd.DataFrame(rows).assign(phase="final", setting="lr=1", trial=0, hparams=[{}] * len(rows))
    runs["complete"] = runs["status"].notna()
    rule = verdicts.MoreSeeds(rounds=1, per_round=2, max_seeds=10, min_difference=0.001, test="sign_flip")
    table = main_table(runs, arm_table(runs, ["a", "b"], ["metric"]), ["a", "b"], "metric", "max", [1, 2, 3, 4, 5],
                       rule)
    b = table[table.optimizer == "b"].iloc[0]
    assert b["worse than the best? (5% family-wise)"] == "not established at 5 seeds; waiting for 2 planned runs"
    assert b["tuned completed/diverged/collapsed/failed"] == "5/0/0/0 (+2 incomplete)"
