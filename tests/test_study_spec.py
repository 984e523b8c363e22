"""Study files: parsing, coercion, and one-line errors naming file and key."""

import dataclasses
import json
import textwrap
from pathlib import Path

import pytest
import yaml

from kerasopt.study import expand
from kerasopt.study import spec as study_spec
from kerasopt.study.__main__ import main as study_main

VALID = """
name: demo
task: style
base: {size: 32, evaluations: "5"}
optimizers: [adam, sgd, lbfgs]
search:
  adam:
    learning_rate: {log_uniform: [1e-2, 1e+2]}
    beta_1: {uniform: [0.8, 0.99]}
  lbfgs: {}
  others:
    learning_rate: {log_uniform: ["1e-5", 1e-1]}
    momentum: 0.5
tuning: {trials: 4, sampler: quasirandom, seed: 3}
seeds: [0, 1]
targets: [1e5, 3e4]
"""


def write(tmp_path, text, name="study.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_valid_study_is_parsed_with_numbers_coerced(tmp_path):
    spec = study_spec.load(write(tmp_path, VALID))
    assert spec.name == "demo" and spec.task == "style"
    assert spec.base == {"size": 32, "evaluations": 5, "iterations": None}
    assert spec.optimizers == ("adam", "sgd", "lbfgs")
    assert spec.spaces["adam"]["learning_rate"] == study_spec.Dimension("log_uniform", (0.01, 100.0))
    assert spec.spaces["sgd"]["learning_rate"] == study_spec.Dimension("log_uniform", (1e-5, 0.1))
    assert spec.spaces["sgd"]["momentum"] == study_spec.Dimension("fixed", (0.5,))
    assert spec.spaces["lbfgs"] == {}
    assert (spec.trials, spec.sampler, spec.tuning_seed) == (4, "quasirandom", 3)
    assert spec.defaults_arms == ("task_defaults",) and spec.defaults_seeds == (0, 1)
    assert spec.seeds == (0, 1) and spec.targets == (1e5, 3e4)
    assert study_spec.StudySpec.from_dict(_reparse(spec.to_dict()), source="x") == spec


def _reparse(data):
    data = dict(data)
    data["search"] = {k: v for k, v in data["search"].items()}
    return data


def test_all_means_the_optimizers_the_task_supports(tmp_path):
    from kerasopt import tasks

    style = tasks.get("style")
    fake = lambda name: dataclasses.replace(style, supported=("sgd", "adam"))  # noqa: E731
    text = VALID.replace("optimizers: [adam, sgd, lbfgs]", "optimizers: all").replace("  lbfgs: {}\n", "")
    spec = study_spec.StudySpec.from_dict(yaml.safe_load(textwrap.dedent(text)), get_task=fake)
    assert spec.optimizers == ("sgd", "adam")


def test_style_all_leaves_out_muon_with_a_reason_but_muon_can_be_named(tmp_path):
    from kerasopt import tasks

    text = VALID.replace("optimizers: [adam, sgd, lbfgs]", "optimizers: all").replace("    momentum: 0.5\n", "")
    text = text.replace("  lbfgs: {}", "  lbfgs: {}\n  lbfgs_scipy: {}\n  hessian_free: {}")
    spec = study_spec.load(write(tmp_path, text))
    assert "muon" not in spec.optimizers and "lbfgs" in spec.optimizers
    assert "muon" in tasks.get("style").excluded and tasks.get("style").excluded["muon"]
    named = study_spec.load(write(tmp_path, VALID.replace("[adam, sgd, lbfgs]", "[adam, muon, lbfgs]")))
    assert named.optimizers == ("adam", "muon", "lbfgs")


def test_final_seeds_must_be_held_out_from_tuning(tmp_path):
    with pytest.raises(ValueError, match=r"study.yaml: seeds: the final seeds must be held out: tuning.seed 3"):
        study_spec.load(write(tmp_path, VALID.replace("seeds: [0, 1]", "seeds: [1, 3]")))


def test_full_batch_studies_budget_in_evaluations(tmp_path):
    with pytest.raises(ValueError, match="base.iterations: task 'style' is full-batch"):
        study_spec.load(write(tmp_path, VALID.replace('evaluations: "5"', "iterations: 5")))
    with pytest.raises(ValueError, match="base.evaluations: missing"):
        study_spec.load(write(tmp_path, VALID.replace('size: 32, evaluations: "5"', "size: 32")))


def test_ranges_around_the_task_default_follow_the_image_size(tmp_path):
    from kerasopt.style.config import default_learning_rate

    text = VALID.replace("learning_rate: {log_uniform: [1e-2, 1e+2]}",
                         "learning_rate: {log_uniform_around_default: [1.0e-2, 1.0e+2]}")
    text = text.replace('learning_rate: {log_uniform: ["1e-5", 1e-1]}',
                        "learning_rate: {log_uniform_around_default: [0.1, 10]}")
    for size in (32, 512):
        spec = study_spec.load(write(tmp_path, text.replace("size: 32", f"size: {size}")))
        sgd = default_learning_rate("sgd", size)  # scales with the pixel count
        assert spec.spaces["sgd"]["learning_rate"].values == pytest.approx((0.1 * sgd, 10 * sgd))
        adam = spec.spaces["adam"]["learning_rate"]
        assert adam.values == pytest.approx((1e-2 * default_learning_rate("adam", size), 1e2 * 10.0))
        assert adam.at(0.5) == pytest.approx(default_learning_rate("adam", size))  # centred on the default
    with pytest.raises(ValueError, match="search.adam.epsilon: 'adam' has no positive task default"):
        study_spec.load(write(tmp_path, VALID.replace("    beta_1: {uniform: [0.8, 0.99]}",
                                                      "    epsilon: {log_uniform_around_default: [0.5, 2]}")))


def test_init_content_with_several_seeds_warns(tmp_path):
    spec = study_spec.load(write(tmp_path, VALID))
    assert spec.warnings and "seeds change nothing" in spec.warnings[0]
    noise = study_spec.load(write(tmp_path, VALID.replace("size: 32,", "size: 32, init: noise,")))
    assert noise.warnings == ()


def test_defaults_arms_and_their_seeds(tmp_path):
    text = VALID.replace("seeds: [0, 1]", "seeds: [0, 1]\ndefaults_arms: [library_defaults, task_defaults]\n"
                                          "defaults_seeds: [7]")
    spec = study_spec.load(write(tmp_path, text))
    assert spec.defaults_arms == ("library_defaults", "task_defaults") and spec.defaults_seeds == (7,)
    with pytest.raises(ValueError, match="defaults_arms: expected a list of distinct names"):
        study_spec.load(write(tmp_path, VALID.replace("seeds: [0, 1]", "seeds: [0, 1]\ndefaults_arms: [paper]")))


def test_alias_bombs_and_bad_text_are_one_line_errors(tmp_path):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n" \
           "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
    with pytest.raises(ValueError, match=r"study.yaml: malformed YAML \(line 2, column \d+\): aliases"):
        study_spec.load(write(tmp_path, bomb))
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"name: demo\ntask: \xff\xfe\n")
    with pytest.raises(ValueError, match=r"binary.yaml: not UTF-8 text \(byte 17, line 2\)"):
        study_spec.load(path)


def test_shipped_studies_load_by_name():
    spec = study_spec.load("style_smoke")
    assert spec.name == "style_smoke"


@pytest.mark.parametrize("path", sorted((Path(__file__).parents[1] / "experiments").glob("*.yaml")),
                         ids=lambda path: path.stem)
def test_every_shipped_study_file_is_valid(path):
    assert study_spec.load(path).name == path.stem


def test_dimension_maps_quantiles_onto_its_range():
    log = study_spec.Dimension("log_uniform", (1e-3, 1e1))
    assert log.at(0.0) == pytest.approx(1e-3) and log.at(0.5) == pytest.approx(0.1) and log.at(1.0) == pytest.approx(10)
    assert study_spec.Dimension("uniform", (0.8, 1.0)).at(0.25) == pytest.approx(0.85)
    choice = study_spec.Dimension("choice", (3, 5, 10))
    assert [choice.at(u) for u in (0.0, 0.34, 0.99)] == [3, 5, 10]


@pytest.mark.parametrize("old, new, expected", [
    ("seeds: [0, 1]", "seeds: [0, 1]\nsedes: [2]", "study.yaml: sedes: unknown key"),
    ("tuning: {trials: 4,", "tuning: {trails: 4,", "study.yaml: tuning.trails: unknown key"),
    ("[adam, sgd, lbfgs]", "[adam, sgdd, lbfgs]", "study.yaml: optimizers[1]: unknown or unsupported optimizer 'sgdd'"),
    ("    beta_1: {uniform: [0.8, 0.99]}", "    beta_1: {uniform: [0.9, 0.9]}",
     "study.yaml: search.adam.beta_1.uniform: empty search space"),
    ("  adam:\n    learning_rate: {log_uniform: [1e-2, 1e+2]}\n    beta_1: {uniform: [0.8, 0.99]}", "  adam: {}",
     "study.yaml: search.adam: empty search space for 'adam'"),
    ("    beta_1: {uniform: [0.8, 0.99]}", "    beta_1: {choice: []}", "study.yaml: search.adam.beta_1.choice: empty"),
    ("    beta_1: {uniform: [0.8, 0.99]}", "    beta_9: {uniform: [0.8, 0.99]}",
     "study.yaml: search.adam: Optimizer 'adam' has no hyperparameter 'beta_9'"),
    ("  lbfgs: {}\n", "", "study.yaml: search.others: Optimizer 'lbfgs' has no hyperparameter 'learning_rate'"),
    ("task: style", "task: painting", "study.yaml: task: unknown task"),
    ("base: {size: 32", "base: {optimizer: adam, size: 32", "study.yaml: base.optimizer: set by the study"),
    ("seeds: [0, 1]", "seeds: [0, 0]", "study.yaml: seeds: duplicate seeds"),
    ("sampler: quasirandom", "sampler: random", "study.yaml: tuning.sampler: unknown sampler"),
    ("name: demo\n", "", "study.yaml: name: missing (required)"),
    ("targets: [1e5, 3e4]", "targets: [fast]", "study.yaml: targets: expected a list of finite numbers"),
    ("targets: [1e5, 3e4]", "targets: [1e5]\nmore_seeds: {rounds: 1, test: wilcoxon}",
     "study.yaml: more_seeds.test: expected one of t, sign_flip"),
])
def test_bad_study_names_file_and_key(tmp_path, old, new, expected):
    assert old in VALID
    with pytest.raises(ValueError) as info:
        study_spec.load(write(tmp_path, VALID.replace(old, new)))
    message = str(info.value)
    assert message.startswith(str(tmp_path / "study.yaml")) and expected in message
    assert "\n" not in message


def test_malformed_yaml_is_one_line_with_position(tmp_path):
    with pytest.raises(ValueError, match=r"study.yaml: malformed YAML \(line 3, column 1\): expected ','"):
        study_spec.load(write(tmp_path, "name: x\nbase: {size: [1, 2\n"))


def test_cli_prints_one_line_and_exits_2_without_touching_results(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    path = write(tmp_path, VALID.replace("seeds: [0, 1]", "seeds: [0, 1]\nsedes: [2]"))
    assert study_main(["run", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "sedes: unknown key" in err and len(err.splitlines()) == 1
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def test_cli_missing_study_file(tmp_path, capsys):
    assert study_main(["run", str(tmp_path / "nope.yaml")]) == 2
    assert "study file not found" in capsys.readouterr().err


def test_all_for_defects_leaves_out_the_full_batch_drivers(tmp_path):
    text = VALID.replace("task: style", "task: defects").replace("optimizers: [adam, sgd, lbfgs]", "optimizers: all")
    for old, new in [('base: {size: 32, evaluations: "5"}', "base: {size: 32}"), ("  lbfgs: {}\n", ""),
                     ("    momentum: 0.5\n", "")]:
        text = text.replace(old, new)
    spec = study_spec.load(write(tmp_path, text))
    assert not {"lbfgs", "lbfgs_scipy", "hessian_free"} & set(spec.optimizers)
    assert {"adam", "sgd", "rprop", "muon"} <= set(spec.optimizers)


COMPANION = """
name: companion
task: style
base: {size: 32, evaluations: 5}
optimizers: [adam, lbfgs]
settings_from: main_results
seeds: [1]
"""


def _results_with_selection(tmp_path, selection):
    results = tmp_path / "main_results"
    results.mkdir()
    (results / "plan.json").write_text(json.dumps({"runs": [], "selection": selection}))
    return results


def test_settings_from_fixes_every_optimizer_at_the_other_studys_selection(tmp_path):
    _results_with_selection(tmp_path, {
        "adam": {"tuned": True, "trial": 3, "hparams": {"learning_rate": 31.6}},
        "lbfgs": {"tuned": True, "trial": 1, "hparams": {"history_size": 20}},
        "sgd": {"tuned": True, "trial": 0, "hparams": {"learning_rate": 1000.0}}})
    spec = study_spec.load(write(tmp_path, COMPANION))
    assert spec.spaces == {"adam": {"learning_rate": study_spec.Dimension("fixed", (31.6,))},
                           "lbfgs": {"history_size": study_spec.Dimension("fixed", (20,))}}


@pytest.mark.parametrize("selection, extra, message", [
    (None, "", "settings_from: no plan.json in 'main_results'"),
    ({"adam": {"hparams": {"learning_rate": 31.6}}}, "",
     "settings_from: .*no selected setting for 'lbfgs' \\(looked for the setting main_results selected: its tuning"),
    ({"adam": {"hparams": {"learning_rate": 3.0}}, "lbfgs": {"hparams": None}}, "",
     "settings_from: .*no selected setting for 'lbfgs'"),
])
def test_settings_from_problems_are_one_line(tmp_path, selection, extra, message):
    if selection is not None:
        _results_with_selection(tmp_path, selection)
    with pytest.raises(ValueError, match=message) as error:
        study_spec.load(write(tmp_path, COMPANION + extra))
    assert len(str(error.value).splitlines()) == 1


AROUND_SELECTED = """
name: longer
task: style
base: {size: 32}
budgets: [10, 30]
optimizers: [adam, lbfgs]
settings_from: {study: main_results, budget: 300}
search:
  adam: {learning_rate: {log_uniform_around_selected: [0.3, 3]}}
  lbfgs: {history_size: {choice: [10, 40]}}
seeds: [1]
"""


def _results_with_selections(tmp_path, selections):
    results = tmp_path / "main_results"
    results.mkdir()
    (results / "plan.json").write_text(json.dumps({"runs": [], "selection": selections[max(selections, key=int)],
                                                   "selections": selections}))


def test_a_range_around_another_studys_selection_at_a_budget_is_anchored_there(tmp_path):
    _results_with_selections(tmp_path, {
        "100": {"adam": {"tuned": True, "trial": 1, "hparams": {"learning_rate": 10.0}}},
        "300": {"adam": {"tuned": True, "trial": 2, "hparams": {"learning_rate": 3.16}}}})
    spec = study_spec.load(write(tmp_path, AROUND_SELECTED))
    rate = spec.spaces["adam"]["learning_rate"]
    assert (rate.kind, rate.values, rate.default) == ("log_uniform", (0.948, 9.48), 3.16)
    assert expand.bracket_values(rate, 0.5) == [0.99928, 3.16, 9.9928]  # 3.16 / 10**0.5, 3.16, 3.16 * 10**0.5
    assert "0.3x to 3x the setting main_results selected at budget 300" in rate.describe()
    assert spec.spaces["lbfgs"]["history_size"] == study_spec.Dimension("choice", (10, 40))


@pytest.mark.parametrize("change, message", [
    (("settings_from: {study: main_results, budget: 300}\n", ""),
     "search.adam.learning_rate: log_uniform_around_selected needs settings_from"),
    (("budget: 300", "budget: 1000"), "settings_from.budget: .*no selection at budget 1000. Valid: 100, 300"),
    (("budget: 300", "budget: 100"), "search.adam.learning_rate: settings_from has no positive selected "
                                     "'learning_rate' for 'adam'"),
    (("budget: 300}", "budget: 300, at: 1}"), "settings_from.at: unknown key"),
    (("log_uniform_around_selected", "log_uniform_around_default"),
     "settings_from: beside search it only anchors log_uniform_around_selected ranges, and none is given"),
])
def test_problems_with_a_range_around_a_selection_are_one_line(tmp_path, change, message):
    _results_with_selections(tmp_path, {"100": {"sgd": {"hparams": {"learning_rate": 1.0}}},
                                        "300": {"adam": {"hparams": {"learning_rate": 3.16}}}})
    with pytest.raises(ValueError, match=message) as error:
        study_spec.load(write(tmp_path, AROUND_SELECTED.replace(*change)))
    assert len(str(error.value).splitlines()) == 1


def test_the_sequential_test_is_declared_and_left_out_at_its_old_default(tmp_path):
    plain = study_spec.load(write(tmp_path, VALID + "more_seeds: {rounds: 1}\n"))
    assert "test" not in plain.more_seeds
    flip = study_spec.load(write(tmp_path, VALID + "more_seeds: {rounds: 1, test: sign_flip}\n"))
    assert flip.more_seeds["test"] == "sign_flip" and flip.to_dict() != plain.to_dict()


def test_a_decaying_schedule_has_one_budget():
    study = {"name": "decay", "task": "faststyle", "optimizers": ["adam"], "seeds": [1],
             "search": {"adam": {"learning_rate": {"log_uniform_around_default": [0.3, 3]}}},
             "base": {"schedule": "cosine", "warmup_fraction": 0.05}, "budgets": [10, 20]}
    with pytest.raises(ValueError, match="budgets: a decaying schedule spans one budget"):
        study_spec.StudySpec.from_dict(study, source="decay.yaml")
    assert study_spec.StudySpec.from_dict({**study, "base": {}}, source="decay.yaml").budgets == (10, 20)
