"""The report on synthetic run records (kerasopt.records.RunRecord), without TensorFlow."""

import json
import subprocess
import sys

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from kerasopt.records import RunRecord, write_json_atomic
from kerasopt.report import bootstrap_ci, write_report
from kerasopt.study.__main__ import main as study_main

SPEC = {"name": "synthetic", "task": "style", "base": {"size": 32}, "optimizers": ["adam", "lbfgs"],
        "search": {"adam": {"learning_rate": {"log_uniform": [0.01, 1.0]}}, "lbfgs": {}},
        "tuning": {"trials": 2, "sampler": "quasirandom", "seed": 0}, "defaults_arm": True,
        "seeds": [0, 1, 2], "targets": [5.0, 1.0]}


def write_run(root, run_id, final_loss, status="completed", steps=10):
    """A linear loss history from 10 to ``final_loss``: step s costs 2 s evaluations and 0.5 s seconds."""
    with RunRecord(root / run_id, {"run": run_id}, seed=0) as record:
        for step in range(steps + 1):
            loss = 10.0 - (10.0 - final_loss) * step / steps
            record.log({"step": step, "evaluations": 2 * step, "seconds": 0.5 * step, "loss": loss})
        plt.imsave(record.artifacts / "result.png", np.full((4, 4, 3), final_loss / 10.0))
        record.finish(status, {"loss": final_loss if status == "completed" else float("inf")})


def role(run_id, optimizer, phase, trial, seed, hparams):
    return {"run_id": run_id, "optimizer": optimizer, "phase": phase, "trial": trial, "seed": seed,
            "hparams": hparams, "config": {}}


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    """A synthetic study with its report written once for the module."""
    root = tmp_path_factory.mktemp("report") / "synthetic"
    root.mkdir()
    write_json_atomic(root / "study.json", {"study": SPEC, "target": {"metric": "loss", "mode": "min"},
                                            "source": "experiments/synthetic.yaml"})
    plan = [role("t0", "adam", "tune", 0, 0, {"learning_rate": 0.05}),
            role("t1", "adam", "tune", 1, 0, {"learning_rate": 0.5}),
            role("t1", "adam", "final", 1, 0, {"learning_rate": 0.5}),
            role("f1", "adam", "final", 1, 1, {"learning_rate": 0.5}),
            role("f2", "adam", "final", 1, 2, {"learning_rate": 0.5})]
    plan += [role(f"ad{s}", "adam", "defaults", None, s, {}) for s in range(3)]
    plan += [role(f"ld{s}", "lbfgs", phase, None, s, {}) for phase in ("defaults", "final") for s in range(3)]
    write_json_atomic(root / "plan.json", {"study": "synthetic", "runs": plan})
    for run_id, loss in {"t0": 9.0, "t1": 1.0, "f1": 2.0, "f2": 3.0, "ad0": 6.0, "ad1": 7.0,
                         "ld0": 4.0, "ld1": 4.0}.items():
        write_run(root, run_id, loss)
    write_run(root, "ad2", 0.0, status="diverged")
    write_report(root)
    return root  # ld2 never ran: the study is incomplete


def test_report_tables_hold_seed_means_with_bootstrap_intervals(study_dir):
    path = study_dir / "report.md"
    summary = pd.read_csv(study_dir / "summary.csv")
    adam = summary[(summary.optimizer == "adam") & (summary.arm == "tuned")].iloc[0]
    assert (adam["mean"], adam["ci_low"], adam["ci_high"]) == pytest.approx(bootstrap_ci([1.0, 2.0, 3.0]))
    assert adam["setting"] == "learning_rate=0.5" and adam["n_ok"] == 3 and adam["trial"] == 1
    defaults = summary[(summary.optimizer == "adam") & (summary.arm == "defaults")].iloc[0]
    assert defaults["mean"] == pytest.approx(6.5) and (defaults["n_ok"], defaults["n"]) == (2, 3)
    assert "diverged:1" in defaults["statuses"]
    lbfgs = summary[(summary.optimizer == "lbfgs") & (summary.arm == "tuned")].iloc[0]
    assert (lbfgs["mean"], lbfgs["n_ok"], lbfgs["n"]) == (4.0, 2, 3) and "incomplete:1" in lbfgs["statuses"]
    text = path.read_text()
    assert "| adam | learning_rate=0.5 | 2 [" in text and "loss mean [95% CI]" in text
    assert "**The study is incomplete**" in text and "Tuning budget: 2 trials" in text


def test_time_to_target_table_uses_medians_over_seeds(study_dir):
    table = pd.read_csv(study_dir / "time_to_target.csv")
    tuned = table[(table.optimizer == "adam") & (table.arm == "tuned")].set_index("target")
    # loss 10 - (10 - v) s / 10 <= 5 first at s = 6, 7, 8 for v = 1, 2, 3: median 7
    assert tuned.loc[5.0, "reached"] == "3/3"
    assert (tuned.loc[5.0, "median step"], tuned.loc[5.0, "median evaluations"],
            tuned.loc[5.0, "median seconds"]) == (7.0, 14.0, 3.5)
    assert tuned.loc[1.0, "reached"] == "1/3" and np.isinf(tuned.loc[1.0, "median step"])
    assert "not reached" in (study_dir / "report.md").read_text()


def test_report_writes_every_figure(study_dir):
    for name in ("lr_sensitivity", "curves_step", "curves_evaluations", "curves_seconds", "image_grid"):
        assert (study_dir / f"{name}.png").stat().st_size > 1000
        assert f"({name}.png)" in (study_dir / "report.md").read_text()


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
    assert "seeds [0, 1, 2]" in text and "experiments/synthetic.yaml" in text
    roles = json.loads((study_dir / "plan.json").read_text())["runs"]
    assert len(pd.read_csv(study_dir / "runs.csv")) == len(roles)
