"""benchmarks/costs.py: one interleaved cost benchmark whose costs.json the reports read unchanged."""

import json

import pytest

from conftest import BENCHMARKS
from kerasopt.results import arm_cost, read_costs as load_costs


@pytest.fixture(scope="module")
def costs():
    import sys

    import importlib.util

    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))  # --reconcile imports style_bench
    spec = importlib.util.spec_from_file_location("costs_benchmark", BENCHMARKS / "costs.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses resolve their annotations through it
    spec.loader.exec_module(module)
    return module


def rows_of(one_off: float, per: float, evaluations: list[int], steps: list[int] | None = None):
    """History rows (step, evaluations, seconds): row 0 at 0 s, the first row paying ``one_off`` more."""
    steps = steps or list(range(1, len(evaluations) + 1))
    return [(0, 0, 0.0)] + [(s, e, one_off + e * per) for s, e in zip(steps, evaluations)]


def test_the_slope_after_the_first_iteration_is_the_cost_and_the_first_iterations_excess_the_one_off(costs):
    rows = rows_of(2.0, 0.1, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    got = costs.rows_costs(rows, trace_seconds=0.5)
    assert got["per_evaluation"] == pytest.approx(0.1)
    assert got["one_off"] == pytest.approx(2.5)  # tracing + the first call's graph optimisation
    assert got["evaluations_per_step"] == pytest.approx(1.0) and got["per_step"] == pytest.approx(0.1)
    # benchmarks/step_costs.py's figure from the same run: the one-off spread over the run's evaluations
    assert rows[-1][2] / rows[-1][1] == pytest.approx(0.3)


def test_line_search_trials_make_a_step_cost_several_evaluations(costs):
    rows = rows_of(1.0, 0.2, [2, 5, 8, 11], steps=[1, 2, 3, 4])
    got = costs.rows_costs(rows, 0.0)
    assert got["per_evaluation"] == pytest.approx(0.2)
    assert got["evaluations_per_step"] == pytest.approx(3.0) and got["per_step"] == pytest.approx(0.6)


def test_a_memory_that_fills_after_the_timed_run_costs_its_last_rate_up_to_the_budget(costs):
    # 0.1 s an evaluation for the first 20 evaluations, then 0.2 s (a fuller memory)
    rows = [(0, 0, 0.0)] + [(e, e, 1.0 + 0.1 * min(e, 20) + 0.2 * max(0, e - 20)) for e in range(1, 41)]
    within = costs.rows_costs(rows, 0.0, budget=40)
    assert within["per_evaluation"] == pytest.approx((0.1 * 19 + 0.2 * 20) / 39)
    longer = costs.rows_costs(rows, 0.0, budget=1000, fills=True)
    assert longer["per_evaluation"] == pytest.approx((0.1 * 19 + 0.2 * 20 + 0.2 * 960) / 999)
    no_memory = costs.rows_costs(rows, 0.0, budget=1000)  # e.g. Hessian-free: its whole run's slope carries on
    assert no_memory["per_evaluation"] == pytest.approx((0.1 * 19 + 0.2 * 20) / 39)
    shorter = costs.rows_costs(rows, 0.0, budget=10)  # a shorter study averages over its own run length
    assert shorter["per_evaluation"] == pytest.approx(0.1)


def test_a_short_timing_run_carries_its_own_slope_to_the_budget(costs):
    rows = rows_of(2.0, 0.1, [1, 2, 3, 4, 5, 6])
    rows[-1] = (6, 6, rows[-1][2] + 0.3)  # one slow last step: no tail of one evaluation decides a 1000-run's cost
    got = costs.rows_costs(rows, 0.0, budget=1000, fills=True)
    assert got["per_evaluation"] == pytest.approx((0.1 * 5 + 0.3) / 5)


def test_a_run_of_one_iteration_falls_back_to_its_seconds_per_evaluation(costs):
    got = costs.rows_costs([(0, 0, 0.0), (1, 4, 2.0)], 0.3)
    assert got["per_evaluation"] == pytest.approx(0.5) and got["one_off"] == pytest.approx(0.3)


def style(optimizer, **extra):
    return {"size": 32, "init": "noise", "evaluations": 4, "optimizer": optimizer, "hparam_defaults": "task",
            "hparams": {}, **extra}


def test_settings_that_compute_the_same_share_one_timing(costs):
    key = costs.cost_key
    # a first-order step computes the same at any learning rate and from any start image
    assert key("style", style("adam", hparams={"learning_rate": 1.0})) == key("style", style("adam", init="content"))
    assert key("style", style("adam")) != key("style", style("amsgrad"))
    assert key("style", style("adam")) != key("style", style("adam", size=64))
    # Adadelta's epsilon differs between the task's and Keras' defaults: timed apart, conservatively
    assert key("style", style("adadelta")) != key("style", style("adadelta", hparam_defaults="library"))
    # a driver's history and start image change its work; its budget does not
    assert key("style", style("lbfgs")) != key("style", style("lbfgs", hparams={"history_size": 40}))
    assert key("style", style("lbfgs")) != key("style", style("lbfgs", init="content"))
    assert key("style", style("lbfgs")) == key("style", style("lbfgs", evaluations=1000, seed=7))
    assert key("style", style("lbfgs")) == key("style", style("lbfgs", hparam_defaults="library"))
    assert key("style", style("hessian_free", hparams={"initial_damping": 0.01})) == key("style", style("hessian_free"))


def test_costs_files_have_the_readers_keys_per_arm_or_for_every_arm(costs, tmp_path):
    unit = costs.Unit("u", "style", style("adam"), length=10)
    unit.users = [costs.User("s1", tmp_path / "a", "adam", "tuned", 300),
                  costs.User("s1", tmp_path / "a", "adam", "task_defaults", 300),
                  costs.User("s2", tmp_path / "b", "adam", costs.EVERY_ARM, 100),
                  costs.User("ad hoc", None, "adam", None, None)]
    unit.samples = [{"rows": rows_of(1.0, per, list(range(1, 11))), "trace": 0.2} for per in (0.1, 0.3, 0.2)]
    files = costs.costs_files([unit], 3, {"conditions": {"threads": 1}})
    assert set(files) == {tmp_path / "a", tmp_path / "b"}  # ad hoc users get no file
    for out, data in files.items():
        out.mkdir()
        (out / "costs.json").write_text(json.dumps(data))
    a, b = load_costs(tmp_path / "a"), load_costs(tmp_path / "b")
    assert a == {"adam": {"tuned": pytest.approx(0.2), "task_defaults": pytest.approx(0.2)}}  # median over rounds
    assert arm_cost(b, "adam", "library_defaults") == pytest.approx(0.2)
    data = files[tmp_path / "a"]
    assert data["spread"]["adam"]["tuned"] == pytest.approx([0.1, 0.3])
    assert data["one_off_seconds"]["adam"]["tuned"] == pytest.approx(1.2)
    assert data["settings"]["adam tuned"]["averaged_over_evaluations"] == 300 and data["study"] == "s1"


def test_rounds_interleave_every_setting_once_in_a_seeded_order(costs):
    units = [costs.Unit(name, "style", {}) for name in "abc"]
    seen = []

    def sampler(name):
        def sample():
            seen.append(name)
            return {"per_evaluation": 1.0, "one_off": 0.0, "per_step": 1.0, "evaluations_per_step": 1.0}
        return sample
    done = []
    costs.interleave(units, {n: sampler(n) for n in "abc"}, rounds=3, log=lambda line: None, after_round=done.append)
    assert done == [1, 2, 3] and all(sorted(seen[i:i + 3]) == ["a", "b", "c"] for i in (0, 3, 6))
    assert all(len(u.samples) == 3 for u in units)


def test_the_load_probe_says_what_else_ran(costs):
    probe = costs.LoadProbe()
    summary = probe.summary()
    assert {"loadavg_start", "loadavg_end", "own_cores_busy"} <= set(summary)


@pytest.mark.slow
def test_a_tiny_style_study_and_the_reconciliation_in_one_run(costs, tmp_path, capsys):
    study = tmp_path / "tiny.yaml"
    study.write_text(json.dumps({
        "name": "tiny", "task": "style", "base": {"size": 32, "evaluations": 6},
        "optimizers": ["adam", "lbfgs"], "search": {"adam": {"learning_rate": {"log_uniform": [1, 10]}},
                                                   "lbfgs": {}}, "seeds": [1]}))
    records = tmp_path / "records"
    records.mkdir()
    out_root = tmp_path / "new"
    assert costs.main([f"{study}={records}", "--out-root", str(out_root), "--rounds", "1", "--evaluations", "3",
                       "--reconcile", "--size", "32", "--threads", "0", "--raw", str(tmp_path / "raw.json")]) == 0
    written = out_root / records.relative_to("/")
    got = load_costs(written)
    assert set(got) == {"adam", "lbfgs"} and all(0 < value < 60 for value in got.values())
    data = json.loads((written / "costs.json").read_text())
    assert data["conditions"]["host_id"] and "load" in data["conditions"] and data["benchmark"] == "benchmarks/costs.py"
    out = capsys.readouterr().out
    assert "lbfgs / adam, step_costs way" in out and "bare evaluation float64" in out
    assert json.loads((tmp_path / "raw.json").read_text())["rounds_done"] == 1


@pytest.mark.slow
def test_a_tiny_defect_study_gets_costs_per_step(costs, tmp_path):
    study = tmp_path / "tiny.yaml"
    study.write_text(json.dumps({
        "name": "tiny", "task": "defects", "base": {"size": 32, "batch_size": 2, "backbone": "resnet18"},
        "optimizers": ["sgd", "adam"], "search": {"others": {"learning_rate": {"log_uniform": [0.001, 0.1]}}},
        "seeds": [1]}))
    assert costs.main([f"{study}={tmp_path}", "--rounds", "1", "--steps", "1", "--threads", "0"]) == 0
    got = load_costs(tmp_path)
    assert set(got) == {"sgd", "adam"} and all(value > 0 for value in got.values())


def test_costs_written_without_a_plan_serve_every_arm(tmp_path):
    (tmp_path / "costs.json").write_text(json.dumps({"seconds_per_evaluation": {
        "sgd": 0.5, "adam": {"tuned": 1.0, "task_defaults": "nan"}, "rprop": -1, "lion": {"tuned": None}},
        "one_off_seconds": {"sgd": 2.0}, "conditions": {"threads": 1}}))  # keys the readers do not know are ignored
    got = load_costs(tmp_path)
    assert got == {"sgd": 0.5, "adam": {"tuned": 1.0}}
    assert arm_cost(got, "sgd", "library_defaults") == 0.5 and arm_cost(got, "rprop", "tuned") is None


def tiny_plan(tmp_path):
    study = tmp_path / "tiny.yaml"
    study.write_text(json.dumps({
        "name": "tiny", "task": "style", "base": {"size": 32, "evaluations": 4},
        "optimizers": ["adam", "lbfgs"], "search": {"adam": {"learning_rate": {"log_uniform": [1, 10]}},
                                                   "lbfgs": {"history_size": {"choice": [5, 10, 40]}}},
        "defaults_arms": ["task_defaults", "library_defaults"], "seeds": [1, 2]}))

    def run(optimizer, phase, seed, hparams, defaults="task"):
        config = {"size": 32, "evaluations": 4, "optimizer": optimizer, "hparams": hparams, "seed": seed,
                  "hparam_defaults": defaults}
        return {"optimizer": optimizer, "phase": phase, "seed": seed, "config": config}

    plan = [run("lbfgs", "tune", 0, {"history_size": 5}),  # tuning runs are not an arm: never timed
            run("lbfgs", "final", 1, {"history_size": 40}), run("lbfgs", "final", 2, {"history_size": 40}),
            run("lbfgs", "task_defaults", 1, {}), run("lbfgs", "library_defaults", 1, {}, "library"),
            run("adam", "final", 1, {"learning_rate": 3.0}), run("adam", "task_defaults", 1, {}),
            run("adam", "library_defaults", 1, {}, "library")]
    (tmp_path / "plan.json").write_text(json.dumps({"runs": plan, "selection": {}}))
    return study


def test_with_a_plan_every_arm_is_costed_and_each_computation_timed_once(costs, tmp_path):
    study = tiny_plan(tmp_path)
    units = costs.collect([(study, tmp_path, tmp_path / "out")])
    uses = {unit.name: sorted((u.optimizer, u.arm) for u in unit.users) for unit in units}
    # adam's three arms differ in the learning rate only: one timing; lbfgs at history 40 apart from history 10,
    # whose task and library settings build the same driver
    assert sorted(uses.values()) == [[("adam", "library_defaults"), ("adam", "task_defaults"), ("adam", "tuned")],
                                     [("lbfgs", "library_defaults"), ("lbfgs", "task_defaults")],
                                     [("lbfgs", "tuned")]]
    assert all("seed" not in unit.settings for unit in units)
    assert {u.budget for unit in units for u in unit.users} == {4}
    for unit in units:  # the timing run never goes beyond the study's budget
        assert costs.run_length(unit, 10) == 4


def test_with_budgets_the_tuned_arm_is_the_largest_budgets_selection(costs, tmp_path):
    study = tmp_path / "tiny.yaml"
    study.write_text(json.dumps({
        "name": "tiny", "task": "style", "base": {"size": 32}, "budgets": [4, 8], "optimizers": ["lbfgs"],
        "search": {"lbfgs": {"history_size": {"choice": [5, 10, 40]}}}, "seeds": [1]}))
    config = {"size": 32, "evaluations": 8, "optimizer": "lbfgs", "hparam_defaults": "task", "seed": 1}
    plan = [{"optimizer": "lbfgs", "phase": "final", "budget": budget, "seed": 1,
             "config": {**config, "hparams": {"history_size": history}}} for budget, history in ((4, 5), (8, 40))]
    (tmp_path / "plan.json").write_text(json.dumps({"runs": plan}))
    from kerasopt.study import spec as study_spec
    found = costs.study_settings(study_spec.load(study), tmp_path)
    assert [(settings["hparams"], optimizer, arm) for settings, optimizer, arm in found] == [
        ({"history_size": 40}, "lbfgs", "tuned")]


def test_a_driver_runs_long_enough_to_fill_its_memory_within_the_budget(costs):
    unit = costs.Unit("u", "style", style("lbfgs", hparams={"history_size": 40}, evaluations=1000))
    unit.users = [costs.User("s", None, "lbfgs", "tuned", 1000)]
    assert costs.run_length(unit, 6) == 52
    unit.users[0].budget = 30
    assert costs.run_length(unit, 6) == 30
    first_order = costs.Unit("v", "style", style("adam", evaluations=1000),
                             [costs.User("s", None, "adam", "tuned", 1000)])
    assert costs.run_length(first_order, 6) == 6


def test_an_ad_hoc_setting_is_read_over_its_base(costs):
    got = costs.parse_setting("lbfgs:history_size=320,pair_dtype=float64", {"size": 128, "init": "noise"}, 500)
    assert got == {"size": 128, "init": "noise", "optimizer": "lbfgs", "evaluations": 500,
                   "hparams": {"history_size": 320, "pair_dtype": "float64"}}
