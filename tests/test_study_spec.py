"""Study files: parsing, coercion, and one-line errors naming file and key."""

import textwrap

import pytest

from kerasopt.study import spec as study_spec
from kerasopt.study.__main__ import main as study_main

VALID = """
name: demo
task: style
base: {size: 32, iterations: "5"}
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
    assert spec.base == {"size": 32, "iterations": 5}
    assert spec.optimizers == ("adam", "sgd", "lbfgs")
    assert spec.spaces["adam"]["learning_rate"] == study_spec.Dimension("log_uniform", (0.01, 100.0))
    assert spec.spaces["sgd"]["learning_rate"] == study_spec.Dimension("log_uniform", (1e-5, 0.1))
    assert spec.spaces["sgd"]["momentum"] == study_spec.Dimension("fixed", (0.5,))
    assert spec.spaces["lbfgs"] == {}
    assert (spec.trials, spec.sampler, spec.tuning_seed) == (4, "quasirandom", 3)
    assert spec.defaults_arm is True and spec.seeds == (0, 1) and spec.targets == (1e5, 3e4)
    assert study_spec.StudySpec.from_dict(_reparse(spec.to_dict()), source="x") == spec


def _reparse(data):
    data = dict(data)
    data["search"] = {k: v for k, v in data["search"].items()}
    return data


def test_all_means_the_optimizers_the_task_supports(tmp_path):
    text = VALID.replace("optimizers: [adam, sgd, lbfgs]", "optimizers: all").replace("  lbfgs: {}\n", "")
    spec = study_spec.load(write(tmp_path, text), supported_for=lambda task: ["sgd", "adam"])
    assert spec.optimizers == ("sgd", "adam")


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


def test_all_for_defects_leaves_out_lbfgs(tmp_path):
    from kerasopt.study.runner import load_task

    text = VALID.replace("task: style", "task: defects").replace("optimizers: [adam, sgd, lbfgs]", "optimizers: all")
    for old, new in [('base: {size: 32, iterations: "5"}', "base: {size: 32}"), ("  lbfgs: {}\n", ""),
                     ("    momentum: 0.5\n", "")]:
        text = text.replace(old, new)
    spec = study_spec.load(write(tmp_path, text), supported_for=lambda task: load_task(task).supported)
    assert "lbfgs" not in spec.optimizers and {"adam", "sgd", "rprop", "muon"} <= set(spec.optimizers)
