"""The style benchmark scripts run end to end at a tiny size and print their tables (not timed)."""

import math

import pytest

from conftest import BENCHMARKS, load_benchmark as load

pytestmark = pytest.mark.slow  # trains models or runs subprocesses: `make test` only, not `make test-fast`


@pytest.fixture(autouse=True)
def importable_benchmarks(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # hf_vs_adam imports style_bench


def test_style_bench_writes_ratio_target_and_two_percent_tables(tmp_path, capsys):
    out = tmp_path / "perf.md"
    assert load("style_bench").main(["--sizes", "32", "--rounds", "1", "--steps", "2", "--evaluations", "3",
                                     "--target-evals", "4", "--evaluations-check", "4", "--check-sizes", "32",
                                     "--check-seeds", "1", "--no-xla", "--init", "noise", "--out", str(out)]) == 0
    table = out.read_text()
    assert "start: noise" in table and "| 32 | " in table and "Time to reach the loss the best of Adam at lr 3.0, 10.0, 30.0 (extended" in table
    rows = [line for line in table.splitlines() if line.startswith("| 32 | ")]
    assert len(rows) == 2 + 2  # ratios, time to target, content + 1 noise seed
    assert "noise seed 0" in table
    assert "| not run | not run |" in rows[0]  # --no-xla
    assert table in capsys.readouterr().out
    # modelled seconds = one-off + evaluations x the interleaved seconds per evaluation of the ratio table
    per_eval = {name: float(rows[0].split(" | ")[column].split(" ")[0]) for name, column in
                (("adam", 2), ("scipy", 3), ("tf", 4))}
    cells = rows[1].strip("| ").split(" | ")
    one_off = dict(zip(("adam", "scipy", "tf"), map(float, cells[-1].split(" / "))))
    for name, cell in zip(("adam", "scipy", "tf"), cells[2:5]):
        evaluations, modelled, _ = cell.split(" (")[0].split(" / ")
        if evaluations != "n/a":
            assert float(modelled) == pytest.approx(one_off[name] + int(evaluations) * per_eval[name], rel=0.02,
                                                    abs=0.02)


def test_the_target_adam_is_extended_past_an_edge_until_it_gets_worse():
    import math

    bench = load("style_bench")
    tried = []

    def run(rate):  # final loss (log10 rate - 2)^2: best near lr 100
        tried.append(rate)
        return [(0, 0.0, 50.0), (4, 1.0, (math.log10(rate) - 2) ** 2)]

    adam = bench.bracketed_adam(run)
    assert list(adam) == pytest.approx([3, 10, 30, 90, 270]) and tried[3:] == pytest.approx([90, 270])
    assert bench.best_adam_rate(adam) == pytest.approx(90)
    capped = bench.bracketed_adam(lambda rate: [(4, 1.0, 1.0 / rate)], extensions=2)  # always better upward
    assert list(capped) == pytest.approx([3, 10, 30, 90, 270])
    inside = bench.bracketed_adam(lambda rate: [(4, 1.0, abs(rate - 10))])
    assert list(inside) == [3, 10, 30]


def test_modelled_seconds_ignore_the_wall_time_of_the_target_run():
    bench = load("style_bench")
    fast = [(1, 0.5, 9.0), (3, 0.9, 4.0), (5, 1.2, 2.0)]
    slow = [(ev, 10 * sec, loss) for ev, sec, loss in fast]  # the same run under 10x load
    for rows in (fast, slow):
        assert bench.evaluations_to(rows, 4.0) == 3
        assert bench.modelled_seconds(bench.evaluations_to(rows, 4.0), 0.25, 1.5) == pytest.approx(2.25)
    assert bench.seconds_to(slow, 4.0) == 9.0 and bench.evaluations_to(fast, 1.0) is None
    assert bench.modelled_seconds(None, 0.25, 1.5) is None


def test_hf_vs_adam_reports_every_method_at_every_budget(capsys):
    assert load("hf_vs_adam").main(["--budgets", "4", "8", "--adam-rates", "10", "30", "--cg", "3",
                                    "--damping", "0.1"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    names = [line.split(" | ")[0][2:] for line in lines[2:]]
    assert names == ["start", "adam lr 10", "adam lr 30", "adam, best rate per budget", "scipy L-BFGS-B",
                     "hessian_free cg 3, damping 0.1"]
    best = [float(v) for v in lines[5].strip("| ").split(" | ")[1:]]
    adam = [[float(v) for v in line.strip("| ").split(" | ")[1:]] for line in lines[3:5]]
    assert best == [min(column) for column in zip(*adam)]


def test_lbfgs_parity_prints_one_row_per_size_start_and_budget_and_a_verdict(tmp_path, capsys):
    out = tmp_path / "parity.md"
    parity = load("lbfgs_parity")
    assert parity.main(["--sizes", "32", "--seeds", "1", "--budgets", "3", "5", "--out", str(out)]) == 0
    table = out.read_text()
    rows = [line.split(" | ") for line in table.splitlines() if line.startswith("| 32 | ")]
    assert [(row[1], row[2]) for row in rows] == [("content", "3"), ("content", "5"), ("noise seed 1", "3"),
                                                  ("noise seed 1", "5")]
    ratios = [float(row[5]) for row in rows]
    assert all(r == pytest.approx(float(row[4]) / float(row[3]), rel=1e-3) for r, row in zip(ratios, rows))
    mean, worst, holds = parity.verdict([{"ratio": r} for r in ratios])
    assert f"Mean ratio {mean:.4f}" in table and ("holds" if holds else "fails") in table.splitlines()[-1]
    assert parity.verdict([{"ratio": 1.0}, {"ratio": 1.029}]) == (pytest.approx(1.0145), 1.029, False)
    assert parity.verdict([{"ratio": 0.99}, {"ratio": 1.029}])[2] is True


def test_style_precision_scores_both_precisions_in_float32(capsys):
    assert load("style_precision").main(["--sizes", "32", "--seeds", "1", "--evaluations", "3", "--rounds", "1",
                                         "--steps", "1"]) == 0
    rows = [line.split(" | ") for line in capsys.readouterr().out.splitlines() if line.startswith("| 32 | ")]
    assert len(rows) == 1 and rows[0][3] == "noise seed 1"
    f32, bf16 = float(rows[0][4]), float(rows[0][5].split()[0])
    assert 0.5 < bf16 / f32 < 2.0  # both optimized the same problem
    import keras
    assert keras.mixed_precision.global_policy().name == "float32"  # the policy is restored


def _run(folder, name, settings, losses, final):
    from kerasopt import records

    with records.RunRecord(folder / name, settings, seed=settings["seed"]) as record:
        for evaluations, loss in losses:
            record.log({"step": evaluations, "evaluations": evaluations, "seconds": 0.0, "loss": loss})
        record.finish("completed", {"loss": final})


def test_budget_reproduction_compares_matching_runs_at_the_smaller_budget(tmp_path, capsys):
    old, new = tmp_path / "old", tmp_path / "new"
    adam = {"optimizer": "adam", "hparams": {"learning_rate": 3.0}, "seed": 1, "hparam_defaults": "task"}
    sgd = {"optimizer": "sgd", "hparams": {}, "seed": 2, "hparam_defaults": "task"}
    _run(old, "a", adam, [(100, 40.0)], 40.0)
    _run(old, "b", sgd, [(100, 80.0)], 80.0)
    _run(old, "c", {**sgd, "seed": 3}, [(100, 50.0)], 50.0)
    _run(new, "a", adam, [(90, 45.0), (100, 40.000001), (300, 20.0)], 20.0)  # agrees at 100 to 1e-4
    _run(new, "b", sgd, [(99, 84.0), (300, 30.0)], 30.0)  # 84 is its value at 100: 5% off
    _run(new, "d", {**sgd, "seed": 4}, [(300, 10.0)], 10.0)  # no matching old run
    module = load("budget_reproduction")
    assert module.differences(old, new, 100, "loss", "evaluations") == {
        "adam": [pytest.approx(2.5e-8)], "sgd": [pytest.approx(0.05)]}
    module.main([str(old), str(new)])
    out = capsys.readouterr().out
    assert "| adam | 1 | 1 | 1 | 2.5e-08 |" in out and "| sgd | 1 | 0 | 0 | 0.05 |" in out


def test_budget_cut_extrapolates_by_the_power_law_and_judges_the_left_out_optimizers(tmp_path, capsys):
    import json

    module = load("budget_cut")
    assert module.extrapolate(100.0, 50.0, 100, 200, 400) == pytest.approx(25.0)  # halves per doubling
    assert module.extrapolate(90.0, 30.0, 100, 300, 900) == pytest.approx(10.0)
    short, long = tmp_path / "short", tmp_path / "long"
    roles = []
    for name, seed, losses in [("adam", 1, [(100, 90.0), (300, 30.0)]), ("adam", 2, [(100, 90.0), (300, 30.0)]),
                               ("sgd", 1, [(100, 200.0), (300, 100.0)]), ("rmsprop", 1, [(100, 80.0), (300, 60.0)]),
                               ("lion", 1, [(100, 300.0), (300, 30.0)])]:
        run_id = f"{name}{seed}"
        _run(short, run_id, {"optimizer": name, "hparams": {}, "seed": seed}, losses, losses[-1][1])
        roles.append({"run_id": run_id, "optimizer": name, "phase": "final", "budget": 300, "seed": seed,
                      "trial": 0, "hparams": {}})
    _run(short, "tune", {"optimizer": "adam", "hparams": {}, "seed": 0}, [(100, 1.0), (300, 1.0)], 1.0)
    roles.append({"run_id": "tune", "optimizer": "adam", "phase": "tune", "budget": None, "seed": 0,
                  "trial": 0, "hparams": {}})  # not a final
    (short / "plan.json").write_text(json.dumps({"runs": roles}))
    (short / "study.json").write_text(json.dumps({"study": {}, "target": {}, "task": {}}))
    _run(long, "adam1", {"optimizer": "adam", "hparams": {}, "seed": 1}, [(0, 500.0), (300, 30.0), (1000, 20.0)], 20.0)
    _run(long, "sgd1", {"optimizer": "sgd", "hparams": {}, "seed": 1}, [(0, 500.0), (1000, 600.0)], 600.0)
    (long / "plan.json").write_text(json.dumps({"runs": [
        {"run_id": run_id, "optimizer": name, "phase": "final", "budget": None, "seed": 1, "trial": 0, "hparams": {}}
        for run_id, name in [("adam1", "adam"), ("sgd1", "sgd")]]}))
    (long / "study.json").write_text(json.dumps({"study": {}, "target": {},
                                                 "task": {"collapse": {"kind": "ended_above_start", "metric": "loss"}}}))
    means = module.means(module.final_values(short, 300, [100, 300]))
    assert means == {"adam": [90.0, 30.0], "sgd": [200.0, 100.0], "rmsprop": [80.0, 60.0], "lion": [300.0, 30.0]}
    long_values = module.final_values(long, None, [1000])
    assert math.isnan(long_values["sgd"][1][0])  # collapsed (ended above its start): not a value
    rows = {row["optimizer"]: row for row in module.cut_table(means, module.means(long_values), [100, 300, 1000])}
    # adam: 30 * (10/3) ** -1 = 9 <= 20 measured; sgd: 100 * (10/3) ** log3(1/2) = 46.8 > 20: cannot lead;
    # rmsprop: 60 * (10/3) ** log3(3/4) = 48.9 > 20
    assert rows["adam"]["extrapolated to 1000"] == pytest.approx(9.0)
    assert rows["adam"]["verdict"] == "ran (extrapolation optimistic)"
    assert rows["sgd"]["extrapolated to 1000"] == pytest.approx(100 * (10 / 3) ** (math.log(0.5) / math.log(3)))
    assert rows["sgd"]["verdict"] == rows["rmsprop"]["verdict"] == "cannot lead"
    assert rows["lion"]["verdict"] == "could lead"  # 30 * (10/3) ** -2.1 = 2.4 < 20
    module.main([str(short), str(long)])
    out = capsys.readouterr().out
    assert "| adam | 90 | 30 | 9 | 20 | ran (extrapolation optimistic) |" in out
    assert "Kendall's tau between the rankings at 300 and at 1000 evaluations" in out


def test_budget_cut_ranking_change_is_kendalls_tau_over_the_optimizers_in_both():
    module = load("budget_cut")
    short = {"a": {1: [50.0, 10.0]}, "b": {1: [60.0, 20.0]}, "c": {1: [70.0, 30.0]}, "d": {1: [1.0, 1.0]}}
    long = {"a": {1: [5.0]}, "b": {1: [4.0]}, "c": {1: [6.0]}}  # a, b swap: 2 concordant pairs, 1 discordant
    tau, low, high, compared = module.ranking_change(short, long)
    assert (tau, low, high, compared) == (pytest.approx(1 / 3), pytest.approx(1 / 3), pytest.approx(1 / 3), 3)
