"""Cost of TensorFlow op determinism per training step, defects and style, in interleaved rounds.

``tf.config.experimental.enable_op_determinism()`` cannot be switched off inside a process, so every
measurement runs in a FRESH subprocess (``--worker``) with the setting fixed for its whole life, as a
study worker holds one setting for all its runs. Each round runs one worker with determinism on and
one with it off, both at once (``--sequential``: back to back, the order alternating from round to
round), so load on the machine hits both alike; the cost is the ratio on/off WITHIN a round,
summarised over rounds as the median and the min-max spread. Each worker fixes TensorFlow's intra-
and inter-op pools (``--threads``, default 1) and seeds everything with seed 0 before each workload
(`kerasopt.seeding.set_seed`).

Two clocks per step: the worker process's CPU seconds (``time.process_time``: all its threads, i.e.
TensorFlow's pools and tf.data's) and wall seconds. With one thread per pool the CPU seconds are what
a step costs; on a machine busier than its cores they are the robust measure (wall seconds then
mostly measure the scheduler), so the verdict uses the CPU ratio and the wall ratio is shown beside it.

Workloads, each timed per step after an untimed first step (tracing and first-call graph
optimisation), as the median of the later steps:

- ``defects``: the U-Net training step of the CPU defect study (experiments/defects_cpu.yaml: resnet18
  encoder from random weights, 128 px, batch 8, Adam, float32), through ``model.fit`` on the run's own
  augmented ``tf.data`` pipeline (`kerasopt.defects.train.build_model`, `make_dataset`), on synthetic
  data of the study's size (400 images at 128 px: 35 full batches an epoch); ``--defect-steps`` steps;
- ``style-adam-<px>``: the first-order style-transfer step (`kerasopt.style.loop.run_first_order`,
  Adam(10), the bundled content/style pair, the default network);
- ``style-lbfgs-<px>``: seconds per loss-and-gradient evaluation of the on-device L-BFGS-B
  (`kerasopt.optimizers.tf_lbfgs.TFLBFGS`) after its first iteration.

Every worker also reports, per workload, the final loss and a SHA-256 of the trained variables
(U-Net weights / image), so the same run answers whether determinism changes results at all on this
host (on vs off) and whether determinism-on (or -off) processes are bit-identical to each other.

    python benchmarks/determinism_cost.py [--rounds 5] [--threads 1] [--defect-steps 10]
        [--style-sizes 128 256] [--style-steps 15] [--lbfgs-evaluations 15] [--sequential]
        [--data DIR] [--json OUT.json]

Results and the decision they feed: benchmarks/determinism.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MARK = "DETERMINISM_COST_RESULT "  # the worker's one result line on stdout
STUDY_DATA = {"n": 400, "size": 128, "seed": 0}  # experiments/defects_cpu.yaml: synthetic_n, synthetic_size
STUDY_MODEL = {"backbone": "resnet18", "size": 128, "batch_size": 8}


# ---------------------------------------------------------------- pure helpers (tested)

def round_orders(rounds: int) -> list[tuple[bool, bool]]:
    """The order of the two workers of each round: (on, off), (off, on), ... (True = determinism on)."""
    return [(True, False) if r % 2 == 0 else (False, True) for r in range(rounds)]


def step_median(step_seconds: list[float]) -> float:
    """Median seconds of a step, the first step (tracing, graph optimisation) left out.

    Raises:
        ValueError: fewer than two steps.
    """
    if len(step_seconds) < 2:
        raise ValueError(f"need at least two steps to leave the first out. Received: {len(step_seconds)}")
    return statistics.median(step_seconds[1:])


def per_evaluation(rows: list[tuple[int, float]]) -> list[float]:
    """Seconds per evaluation from a driver's (evaluations so far, seconds so far) per accepted iteration:
    entry 0 the first iteration's mean (with the first call's graph optimisation, dropped by `step_median`),
    then each later iteration's mean once per evaluation it made."""
    seconds = [rows[0][1] / max(rows[0][0], 1)]
    for (e0, s0), (e1, s1) in zip(rows, rows[1:]):
        seconds += [(s1 - s0) / (e1 - e0)] * (e1 - e0)
    return seconds


def round_ratios(rounds: list[dict], workload: str, key: str = "cpu") -> list[float]:
    """Per round, seconds per step with determinism on / off for ``workload``.

    Args:
        rounds: ``[{"on": worker result, "off": worker result}, ...]``; a worker result holds
            ``{"workloads": {name: {"cpu": per-step CPU seconds, "seconds": per-step wall seconds, ...}}}``.
        key: ``"cpu"`` (CPU seconds of the worker process: on a loaded machine, what the step costs)
            or ``"seconds"`` (wall seconds).
    """
    return [step_median(r["on"]["workloads"][workload][key]) /
            step_median(r["off"]["workloads"][workload][key]) for r in rounds]


def summarize(ratios: list[float]) -> dict:
    """``{"median", "min", "max", "rounds"}`` of per-round ratios."""
    return {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios), "rounds": len(ratios)}


def identity(rounds: list[dict], workload: str) -> dict:
    """Bit identity of ``workload``'s results across the workers (``digest``: hash of the trained variables).

    Returns:
        ``{"on_vs_off": bool per round (same digest on and off in that round), "on_across": all
        determinism-on workers identical, "off_across": all determinism-off workers identical,
        "distinct": number of distinct digests among all workers}``.
    """
    on = [r["on"]["workloads"][workload]["digest"] for r in rounds]
    off = [r["off"]["workloads"][workload]["digest"] for r in rounds]
    return {"on_vs_off": [a == b for a, b in zip(on, off)], "on_across": len(set(on)) == 1,
            "off_across": len(set(off)) == 1, "distinct": len(set(on + off))}


def verdict(ratio: float, threshold: float = 1.10) -> str:
    """'within' when the median ratio costs at most (threshold - 1), else 'over'."""
    return "within" if ratio <= threshold else "over"


def digest(arrays) -> str:
    """SHA-256 (first 16 hex digits) of the bytes of numpy arrays, in order."""
    sha = hashlib.sha256()
    for array in arrays:
        sha.update(memoryview(array).tobytes() if hasattr(array, "tobytes") else bytes(array))
    return sha.hexdigest()[:16]


def markdown_table(names: list[str], rounds: list[dict]) -> str:
    """The result table: per workload, median CPU seconds per step off/on, the median ratio on/off of CPU
    seconds and of wall seconds with their min-max over rounds, the verdict (CPU ratio <= 1.10) and bit
    identity."""
    lines = ["| workload | CPU s/step off | CPU s/step on | CPU ratio on/off: median (min-max) "
             "| wall ratio on/off: median (min-max) | cost <= 10%? | on = off (bits) | on-on across processes "
             "| off-off across processes |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name in names:
        cpu, wall = summarize(round_ratios(rounds, name, "cpu")), summarize(round_ratios(rounds, name, "seconds"))
        off = statistics.median(step_median(r["off"]["workloads"][name]["cpu"]) for r in rounds)
        on = statistics.median(step_median(r["on"]["workloads"][name]["cpu"]) for r in rounds)
        same = identity(rounds, name)
        lines.append(f"| {name} | {off:.3f} | {on:.3f} | {cpu['median']:.3f} ({cpu['min']:.3f}-{cpu['max']:.3f}) | "
                     f"{wall['median']:.3f} ({wall['min']:.3f}-{wall['max']:.3f}) | "
                     f"{'yes' if verdict(cpu['median']) == 'within' else 'no'} | "
                     f"{sum(same['on_vs_off'])}/{len(same['on_vs_off'])} rounds | "
                     f"{'identical' if same['on_across'] else 'differ'} | "
                     f"{'identical' if same['off_across'] else 'differ'} |")
    return "\n".join(lines)


# ---------------------------------------------------------------- the worker (one setting per process)

def _step_times():
    """A Keras callback that keeps the wall and CPU seconds (the whole process: TensorFlow's pools and
    tf.data's threads) of each ``fit`` step, synchronised on its loss."""
    import keras

    class StepTimes(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds, self.cpu, self.loss, self.start, self.cpu_start = [], [], None, 0.0, 0.0

        def on_train_batch_begin(self, batch, logs=None):
            self.start, self.cpu_start = time.perf_counter(), time.process_time()

        def on_train_batch_end(self, batch, logs=None):
            self.loss = float(logs["loss"])  # waits for the step
            self.seconds.append(time.perf_counter() - self.start)
            self.cpu.append(time.process_time() - self.cpu_start)

    return StepTimes()


def defects_workload(data: str, steps: int, deterministic: bool) -> dict:
    import keras

    from kerasopt.defects.config import DefectsConfig
    from kerasopt.defects.data import load_splits, make_dataset, steps_per_epoch
    from kerasopt.defects.train import build_model
    from kerasopt.seeding import set_seed

    keras.backend.clear_session()
    set_seed(0, deterministic)
    config = DefectsConfig(optimizer="adam", data=data, epochs=1, **STUDY_MODEL)
    splits = load_splits(data)
    full_batches = len(splits.train) // config.batch_size
    if steps + 1 > full_batches:  # (a partial batch would be traced again)
        raise ValueError(f"{steps + 1} steps need {steps + 1} full batches; the training split has {full_batches}")
    model = build_model(config)
    dataset = make_dataset(splits.train, config.size, config.batch_size, training=True, seed=0)
    timer = _step_times()
    model.fit(dataset, epochs=1, steps_per_epoch=steps + 1, callbacks=[timer], shuffle=False, verbose=0)
    return {"seconds": timer.seconds, "cpu": timer.cpu, "loss": timer.loss,
            "digest": digest([w.numpy() for w in model.weights]),
            "train_images": len(splits.train), "steps_per_epoch": steps_per_epoch(len(splits.train), 8)}


def _style_problem(size: int):
    from kerasopt.style.config import StyleConfig
    from kerasopt.style.losses import Objective
    from kerasopt.style.workload import initial_image, prepare

    config = StyleConfig(optimizer="adam", size=size)
    problem = prepare(config)
    objective = Objective(problem.extractor, problem.targets, config.content_weight, config.style_weight,
                          config.tv_weight)
    return objective, initial_image(config, problem), config.network


def style_adam_workload(size: int, steps: int, deterministic: bool) -> dict:
    import keras
    import tensorflow as tf

    from kerasopt.seeding import set_seed
    from kerasopt.style import loop

    set_seed(0, deterministic)
    objective, start, network = _style_problem(size)
    image = tf.Variable(start)
    rows, stamps = [], []

    def on_row(row):  # row k - 1 is logged right after step k returned its loss (the last row: one more pass)
        stamps.append(time.process_time())
        rows.append(row)

    cpu_start = time.process_time()  # (the first step's CPU seconds include tracing: `step_median` drops it)
    result = loop.run_first_order(objective, image, keras.optimizers.Adam(10.0), steps, on_row)
    reached = [row["seconds"] for row in rows]  # row k: seconds at which iterate k was reached (row 0: 0)
    cpu = [b - a for a, b in zip([cpu_start] + stamps[:steps], stamps[:steps])]
    return {"seconds": [b - a for a, b in zip(reached, reached[1:])], "cpu": cpu, "loss": result.loss,
            "digest": digest([image.numpy()]), "network": network}


def style_lbfgs_workload(size: int, evaluations: int, deterministic: bool) -> dict:
    import tensorflow as tf

    from kerasopt.optimizers.tf_lbfgs import TFLBFGS
    from kerasopt.seeding import set_seed

    set_seed(0, deterministic)
    objective, start, network = _style_problem(size)
    image = tf.Variable(start)
    rows, cpu_rows = [], []  # (evaluations, wall / CPU seconds) per accepted iteration
    cpu_start = time.process_time()

    def record(iteration, evaluations, seconds, loss):
        rows.append((evaluations, seconds))
        cpu_rows.append((evaluations, time.process_time() - cpu_start))
        return False

    result = TFLBFGS(max_evaluations=evaluations, bounds=(0.0, 255.0)).minimize(
        lambda: objective(image)[0], [image], callback=record)
    return {"seconds": per_evaluation(rows), "cpu": per_evaluation(cpu_rows), "loss": float(result.loss),
            "evaluations": int(result.evaluations), "digest": digest([image.numpy()]), "network": network}


def worker(args) -> int:
    from kerasopt.cli import quiet_tensorflow

    quiet_tensorflow()
    from kerasopt import records
    from kerasopt.seeding import fix_threads

    fix_threads(args.threads)
    deterministic = bool(args.deterministic)
    out = {"deterministic": deterministic, "threads": records.thread_pools(), "pid": os.getpid(),
           "load_start": os.getloadavg()[0], "workloads": {}}
    begin = time.perf_counter()
    if args.defect_steps:
        out["workloads"]["defects"] = defects_workload(args.data, args.defect_steps, deterministic)
    for size in args.style_sizes:
        if args.style_steps:
            out["workloads"][f"style-adam-{size}"] = style_adam_workload(size, args.style_steps, deterministic)
        if args.lbfgs_evaluations:
            out["workloads"][f"style-lbfgs-{size}"] = style_lbfgs_workload(size, args.lbfgs_evaluations,
                                                                           deterministic)
    out["wall_seconds"], out["load_end"] = time.perf_counter() - begin, os.getloadavg()[0]
    print(MARK + json.dumps(out), flush=True)
    return 0


# ---------------------------------------------------------------- the driver

def start_worker(args, deterministic: bool) -> subprocess.Popen:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", "--deterministic", str(int(deterministic)),
               "--threads", str(args.threads), "--data", str(args.data), "--defect-steps", str(args.defect_steps),
               "--style-steps", str(args.style_steps), "--lbfgs-evaluations", str(args.lbfgs_evaluations),
               "--style-sizes", *map(str, args.style_sizes)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")}
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def collect_worker(process: subprocess.Popen, deterministic: bool) -> dict:
    stdout, stderr = process.communicate()
    lines = [line for line in stdout.splitlines() if line.startswith(MARK)]
    if process.returncode or not lines:
        raise RuntimeError(f"worker (deterministic={deterministic}) failed, exit {process.returncode}:\n"
                           f"{stderr[-3000:]}")
    return json.loads(lines[-1][len(MARK):])


def run_round(args, order: tuple[bool, bool]) -> dict:
    """One round: a determinism-on and a determinism-off worker, both at once (``args.sequential``: one
    after the other, in ``order``)."""
    results = {}
    if args.sequential:
        for deterministic in order:
            results["on" if deterministic else "off"] = collect_worker(start_worker(args, deterministic), deterministic)
        return results
    processes = [(d, start_worker(args, d)) for d in order]
    for deterministic, process in processes:
        results["on" if deterministic else "off"] = collect_worker(process, deterministic)
    return results


def busy_processes() -> list[str]:
    """Other processes using CPU now (``ps``; empty where ps is missing)."""
    try:
        listing = subprocess.run(["ps", "-eo", "pcpu,comm", "--sort=-pcpu"], capture_output=True, text=True).stdout
    except OSError:
        return []
    rows = [line.split(None, 1) for line in listing.splitlines()[1:]]
    return [f"{name.strip()} {cpu}%" for cpu, name in rows if float(cpu) >= 20.0]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--defect-steps", type=int, default=10, help="timed steps + 1 untimed (0: skip defects)")
    parser.add_argument("--style-sizes", type=int, nargs="*", default=[128, 256])
    parser.add_argument("--style-steps", type=int, default=15, help="Adam steps (0: skip)")
    parser.add_argument("--lbfgs-evaluations", type=int, default=15, help="L-BFGS-B evaluations (0: skip)")
    parser.add_argument("--data", help="synthetic defect data (default: generated at the study's size into a "
                                       "temporary folder)")
    parser.add_argument("--synthetic-n", type=int, default=STUDY_DATA["n"])
    parser.add_argument("--sequential", action="store_true",
                        help="run a round's two workers one after the other (order alternating by round) "
                             "instead of both at once")
    parser.add_argument("--json", help="write all worker results here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--deterministic", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)

    from kerasopt import records

    if args.defect_steps and not args.data:
        from kerasopt.defects.synth import generate

        args.data = Path(tempfile.mkdtemp(prefix="determinism_cost_")) / "data"
        generate(args.data, n=args.synthetic_n, size=STUDY_DATA["size"], seed=STUDY_DATA["seed"])
    host = records.host_id(records.host_fingerprint())
    print(f"host {host}, {os.cpu_count()} CPUs, load {os.getloadavg()}, busy: {', '.join(busy_processes()) or 'none'}",
          flush=True)
    begin, rounds = time.perf_counter(), []
    for number, order in enumerate(round_orders(args.rounds), 1):
        results = run_round(args, order)
        rounds.append(results)
        if args.json:  # after every round: a later failure keeps what was measured
            Path(args.json).write_text(json.dumps({"host": host, "args": {k: (str(v) if isinstance(v, Path) else v)
                                                                          for k, v in vars(args).items()},
                                                   "rounds": rounds}, indent=1))
        line = ", ".join(f"{name} {ratio:.3f}" for name, ratio in
                         ((n, round_ratios([results], n)[0]) for n in results["on"]["workloads"]))
        print(f"round {number} ({'together' if not args.sequential else 'on first' if order[0] else 'off first'}; "
              f"load {os.getloadavg()[0]:.2f}): CPU on/off {line}", flush=True)
    names = list(rounds[0]["on"]["workloads"])
    table = markdown_table(names, rounds)
    losses = {name: {"on": sorted({r["on"]["workloads"][name]["loss"] for r in rounds}),
                     "off": sorted({r["off"]["workloads"][name]["loss"] for r in rounds})} for name in names}
    print(table)
    for name in names:
        print(f"{name}: final losses on {losses[name]['on']}, off {losses[name]['off']}")
    print(f"threads per worker {rounds[0]['on']['threads']}; total wall {time.perf_counter() - begin:.0f} s; "
          f"load at end {os.getloadavg()}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
