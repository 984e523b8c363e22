"""Runner options that fail fast, before any run or Ray start."""

import importlib.util

import pytest

from kerasopt.study.__main__ import main as study_main

TINY = """
name: tiny
task: style
base: {size: 32, evaluations: 2}
optimizers: [adam]
search: {adam: {learning_rate: {log_uniform: [0.1, 100]}}}
tuning: {trials: 2}
seeds: [1]
"""


@pytest.fixture
def study_file(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


def test_ray_backend_without_ray_says_how_to_install_it(study_file, tmp_path, monkeypatch, capsys):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "ray" else real_find_spec(name, *args))
    assert study_main(["run", str(study_file), "--out", str(tmp_path / "out"), "--backend", "ray"]) == 2
    assert "pip install 'kerasopt[ray]'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_workers_need_the_ray_backend(study_file, tmp_path, capsys):
    assert study_main(["run", str(study_file), "--out", str(tmp_path / "out"), "--workers", "2"]) == 2
    assert "--workers and --address need --backend ray" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_task_settings_are_validated_before_any_run(study_file, tmp_path, capsys):
    study_file.write_text(TINY.replace("size: 32", "sise: 32"))
    assert study_main(["run", str(study_file), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {study_file}: base: unknown style setting(s) sise") and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_record_failure_writes_a_failed_record_but_never_overwrites_a_completed_one(tmp_path):
    from kerasopt import records
    from kerasopt.study.runner import record_failure

    summary = record_failure(str(tmp_path / "a"), {"seed": 3}, RuntimeError("worker died\nmore"), prefix="Ray: ")
    assert summary["status"] == "failed" and summary["error"] == "Ray: RuntimeError: worker died"
    assert records.read_config(tmp_path / "a")["seed"] == 3
    assert "RuntimeError: worker died" in (tmp_path / "a" / records.ERROR_LOG).read_text()
    with records.RunRecord(tmp_path / "b", {"seed": 0}) as record:
        record.finish("completed", {"loss": 1.0})
    before = (tmp_path / "b" / records.SUMMARY).read_bytes()
    assert record_failure(str(tmp_path / "b"), {"seed": 0}, RuntimeError("late"))["status"] == "completed"
    assert (tmp_path / "b" / records.SUMMARY).read_bytes() == before


@pytest.mark.parametrize("gpus, workers, share", [(0, 4, 0), (1, 1, 1), (1, 4, 0.25), (2, 4, 0.5), (8, 4, 1),
                                                  (1, 3, 0.3333)])
def test_ray_runs_share_a_gpu_when_workers_outnumber_gpus(gpus, workers, share):
    from kerasopt.study.runner import gpus_per_run

    assert gpus_per_run(gpus, workers) == share


@pytest.mark.parametrize("content", ["[1, 2]", '"text"', '{"study": [1]}', "{trunc"])
def test_a_results_directory_whose_study_json_is_not_a_study_record_is_refused_in_one_line(
        study_file, tmp_path, capsys, content):
    out = tmp_path / "out"
    out.mkdir()
    (out / "study.json").write_text(content)
    assert study_main(["run", str(study_file), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    kind = "unreadable" if content == "{trunc" else "not a"
    assert err.startswith(f"error: {out / 'study.json'}: {kind} study record") and len(err.splitlines()) == 1
    assert (out / "study.json").read_text() == content and sorted(p.name for p in out.iterdir()) == ["study.json"]


@pytest.mark.parametrize("search, words", [
    ({"others": {"learning_rate": {"log_uniform": [0.01, 1]}}}, "bracket grid 0.5 decades apart, up to 1 extensions "
                                                                 "per edge, tuning seeds [0]"),
    ({"others": {"learning_rate": 0.1}}, "fixed settings, no tuning")])
def test_the_first_log_line_says_how_the_study_tunes(quadratic, tmp_path, search, words):
    from kerasopt.study import StudySpec, run_study

    lines = []
    spec = StudySpec.from_dict({"name": "q", "task": "quadratic", "optimizers": ["sgd"], "search": search,
                                "tuning": {"sampler": "bracket", "spacing": 0.5, "extensions": 1, "seeds": [0]},
                                "defaults_arms": [], "seeds": [1]})
    run_study(spec, out_dir=tmp_path / "out", log=lines.append)
    assert f"(quadratic, 1 optimizers, {words}, final seeds [1])" in lines[0]


class _FakeRay:
    """Just enough of ``ray`` for `RayExecutor.map`: each submitted run returns (or raises) its outcome."""

    def __init__(self, outcomes):
        import ray

        self.exceptions = ray.exceptions
        self.outcomes = list(outcomes)

    def remote(self, task_name, config, run_dir):
        return _Ref(self.outcomes.pop(0))

    def wait(self, refs, num_returns):
        return refs[:num_returns], refs[num_returns:]

    def get(self, ref):
        if isinstance(ref.outcome, BaseException):
            raise ref.outcome
        return ref.outcome


class _Ref:
    def __init__(self, outcome):
        self.outcome = outcome


def _ray_executor(outcomes):
    from kerasopt.study.runner import RayExecutor

    executor = object.__new__(RayExecutor)
    executor.ray, executor.workers = _FakeRay(outcomes), 1
    executor.remote = executor.ray
    return executor


def _job(tmp_path, name):
    from kerasopt.study.runner import PlannedRun

    run = PlannedRun(run_id=name, optimizer="adam", phase="tune", trial=0, seed=0, hparams={}, config={"seed": 0})
    return run, str(tmp_path / name)


def test_a_crashed_worker_fails_its_run_but_a_lost_cluster_stops_the_study_and_records_nothing(tmp_path):
    pytest.importorskip("ray")
    import ray.exceptions as errors

    from kerasopt import records

    executor = _ray_executor([{"status": "completed"}, errors.WorkerCrashedError(), errors.LocalRayletDiedError(),
                              {"status": "completed"}])
    jobs = [_job(tmp_path, name) for name in ("done", "crashed", "interrupted", "queued")]
    results = executor.map("style", jobs)
    assert next(results)[1] == {"status": "completed"}
    crashed = next(results)[1]
    assert crashed["status"] == "failed" and crashed["error"].startswith("Ray worker lost: WorkerCrashedError")
    with pytest.raises(RuntimeError, match=r"the Ray cluster stopped \(LocalRayletDiedError\) during run .*"
                                           "completed runs are kept: rerun the same command to resume"):
        next(results)
    assert not records.is_complete(tmp_path / "interrupted") and not (tmp_path / "queued").exists()


def test_verify_reruns_runs_and_names_differences_and_a_host_difference(quadratic, tmp_path, capsys):
    from kerasopt import records
    from kerasopt.study.__main__ import main
    from kerasopt.study.spec import StudySpec
    from kerasopt.study import run_study
    from kerasopt.study.verify import verify

    spec = StudySpec.from_dict({"name": "v", "task": "quadratic", "optimizers": ["sgd"], "defaults_arms": [],
                                "search": {"sgd": {"learning_rate": 0.1}}, "seeds": [1, 2, 3]})
    run_study(spec, out_dir=tmp_path, log=lambda line: None)
    results = verify(tmp_path, count=3, log=lambda line: None)
    assert len(results) == 3 and all(r.identical and r.recorded_host == r.host for r in results)
    first = tmp_path / results[0].run_id
    summary = records.read_summary(first)
    summary["metrics"]["loss"] += 1e-9  # a record that does not reproduce
    records.write_json_atomic(first / "summary.json", summary)
    config = records.read_config(first)
    config["environment"]["host"]["kernel"] = "another-kernel"  # written on another host
    records.write_json_atomic(first / "config.json", config)
    assert main(["verify", str(tmp_path), "--runs", "3"]) == 0
    out = capsys.readouterr().out
    assert f"{results[0].run_id}: differs (host differs: recorded on " in out and "loss: " in out
    assert "2 of 3 reruns bit-identical to their records" in out
