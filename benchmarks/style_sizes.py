"""Time and peak memory of the style command at 256, 512 and 768 px: single scale vs coarse to fine.

Every configuration is one ``python -m kerasopt.style ...`` command in a fresh subprocess, so its peak
resident set size is its own (``os.wait4``'s ``ru_maxrss``), with ``--threads`` fixed and an evaluation
budget (``--evaluations``) in place of the default 100 iterations, so that single scale and coarse to fine
spend the same number of loss-and-gradient evaluations (coarse to fine: half at 256 px, the rest at 512 px,
`kerasopt.style.config.scale_budget`). Recorded per configuration: the final loss (at the final size; the
losses of different sizes are not comparable), the evaluations and iterations, the optimization seconds
(tracing excluded) and the seconds per evaluation at each scale, the tracing seconds, the subprocess's wall
seconds, its peak RSS, and what ``kerasopt.style.images.check_memory`` estimated for the size; plus the host
id and the load average before and after each command (another job on the machine inflates every time).

    python benchmarks/style_sizes.py [--evaluations 16] [--evaluations-768 4] [--threads 2]
                                     [--out runs/style_sizes] [--only lbfgs-256,adam-512-c2f] [--noise]
                                     [--optimizers lbfgs,lbfgs_scipy,adam]
                                     [--start-losses]

Resumable: a configuration whose result is already in ``OUT/results.jsonl`` is not run again (delete the
file to measure afresh). The table goes to ``OUT/table.md`` and stdout.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def configurations(evaluations: int, evaluations_768: int, noise: bool,
                   optimizers: tuple = ("lbfgs", "adam")) -> list[dict]:
    """The measured commands: name, optimizer, size, scales, init, evaluation budget (``noise``: each optimizer
    from noise at 512 px too, single scale and 256,512)."""
    runs = []
    for optimizer in optimizers:
        runs.append({"name": f"{optimizer}-256", "optimizer": optimizer, "size": 256, "scales": None})
    for optimizer in optimizers:
        runs.append({"name": f"{optimizer}-512", "optimizer": optimizer, "size": 512, "scales": None})
        runs.append({"name": f"{optimizer}-512-c2f", "optimizer": optimizer, "size": 512, "scales": "256,512"})
    for optimizer in optimizers if noise else ():
        runs.append({"name": f"{optimizer}-512-noise", "optimizer": optimizer, "size": 512, "scales": None,
                     "init": "noise"})
        runs.append({"name": f"{optimizer}-512-c2f-noise", "optimizer": optimizer, "size": 512, "scales": "256,512",
                     "init": "noise"})
    runs.append({"name": "lbfgs-768", "optimizer": "lbfgs", "size": 768, "scales": None,
                 "evaluations": evaluations_768})
    for run in runs:
        run.setdefault("init", "content")
        run.setdefault("evaluations", evaluations)
    return runs


def command(run: dict, threads: int, out: Path) -> list[str]:
    """The ``python -m kerasopt.style`` command line of ``run``."""
    args = [sys.executable, "-m", "kerasopt.style", "--optimizer", run["optimizer"], "--size", str(run["size"]),
            "--evaluations", str(run["evaluations"]), "--init", run["init"], "--threads", str(threads),
            "--out", str(out), "--overwrite"]
    if run["scales"]:
        args += ["--scales", run["scales"]]
    return args


def measure(run: dict, threads: int, out: Path) -> dict:
    """Run one configuration in a fresh process; its record's numbers, wall seconds and peak RSS."""
    out.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    begin = time.perf_counter()
    with open(out.parent / f"{out.name}.log", "w") as log:
        process = subprocess.Popen(command(run, threads, out), stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - begin
    result = {**run, "threads": threads, "exit_code": process.returncode, "wall_seconds": round(wall, 1),
              "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "load_before": [round(x, 2) for x in load_before],
              "load_after": [round(x, 2) for x in os.getloadavg()]}
    record = out / run["optimizer"]
    if process.returncode != 0 or not (record / "summary.json").is_file():
        log_text = (out.parent / f"{out.name}.log").read_text().strip().splitlines()
        result["error"] = log_text[-1] if log_text else "no output"
        return result
    summary = json.loads((record / "summary.json").read_text())
    settings = json.loads((record / "config.json").read_text())
    metrics = summary["metrics"]
    result |= {key: metrics.get(key) for key in ("loss", "initial_loss", "evaluations", "iterations", "seconds")}
    result |= {"status": summary["status"], "trace_seconds": summary.get("trace_seconds"),
               "record_peak_rss_mb": summary.get("peak_rss_mb"), "image_px": settings["settings"]["image_px"],
               "host_id": settings.get("environment", {}).get("host_id"), "per_scale": per_scale(record)}
    return result


def per_scale(record: Path) -> list[dict]:
    """Per scale of a run (one entry for a single scale): evaluations and seconds spent there, seconds per
    evaluation, and the loss at the scale's end (on that scale's image)."""
    with open(record / "history.csv") as handle:
        rows = list(csv.DictReader(handle))
    scales, spent = [], (0, 0.0)
    for key in dict.fromkeys(row.get("scale", "") for row in rows):
        mine = [row for row in rows if row.get("scale", "") == key]
        evaluations, seconds = int(mine[-1]["evaluations"]), float(mine[-1]["seconds"])
        used = evaluations - spent[0]
        scales.append({"scale": key or None, "evaluations": used, "seconds": round(seconds - spent[1], 2),
                       "seconds_per_evaluation": round((seconds - spent[1]) / used, 3) if used else None,
                       "end_loss": float(mine[-1]["loss"])})
        spent = (evaluations, seconds)
    return scales


def memory_estimates(sizes) -> dict:
    """``check_memory``'s estimate in MiB for the bundled pair at each size (what the command refuses above)."""
    from kerasopt.style.images import available_memory_bytes, check_memory

    available = available_memory_bytes()
    return {"available_mib": round(available / 2**20) if available else None,
            **{str(size): round(check_memory("tubingen", "starry-night", size, available=2**62) / 2**20)
               for size in sizes}}


def start_losses(results: list[dict], out: Path) -> list[dict]:
    """What the final scale of each coarse-to-fine run can start from, on the final size's problem: the loss
    of the content photo, of the coarse result upsampled (`kerasopt.style.workload.upsample`: plain
    upsampling, what ``--scales`` did before `carry_up`), of the photo plus the upsampled coarse change
    (`kerasopt.style.workload.carry_up`, what ``--scales`` does from the photo), and of the variant this
    benchmark first measured, whose upsampled change was clipped to [0, 255] (negative changes lost). The
    coarse result is read back from its 8-bit ``scale_<px>px.png``."""
    import tensorflow as tf

    from kerasopt.style.config import StyleConfig
    from kerasopt.style.images import read_rgb
    from kerasopt.style.losses import Objective
    from kerasopt.style.workload import carry_up, prepare, upsample

    rows = []
    for r in results:
        if not r.get("scales") or "error" in r or r.get("init", "content") != "content":
            continue
        final = prepare(StyleConfig(size=r["size"]))
        coarse_px = int(r["scales"].split(",")[0])
        coarse = prepare(StyleConfig(size=coarse_px))
        objective = Objective(final.extractor, final.targets, 1.0, 0.01, 0.001)
        image = read_rgb(out / r["name"].replace(",", "_") / r["optimizer"] / "artifacts" /
                         f"scale_{coarse_px}px.png")[None].astype(np.float32)
        height, width = final.content_image.shape[:2]
        photo, coarse_photo = final.content_image[None].astype(np.float32), coarse.content_image[None]
        starts = {"content photo": photo, "plain upsampling": upsample(image, height, width),
                  "carry_up (--scales)": carry_up(image, coarse_photo, photo, keep_detail=True),
                  "change clipped at 0": np.clip(photo + upsample(image - coarse_photo, height, width), 0, 255)}
        rows.append({"name": r["name"], **{name: float(objective(tf.constant(x, tf.float32))[0])
                                           for name, x in starts.items()}})
    return rows


START_COLUMNS = ("content photo", "plain upsampling", "carry_up (--scales)", "change clipped at 0")


def table(results: list[dict], estimates: dict) -> str:
    lines = ["| configuration | image px | evaluations | final loss | optimization s | s / evaluation (per scale) "
             "| trace s | wall s | peak RSS MB | check_memory estimate MB |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['name']} | — | — | {r['error']} | | | | {r['wall_seconds']} | {r['peak_rss_mb']} | "
                         f"{estimates.get(str(r['size']))} |")
            continue
        per = ", ".join(f"{s['seconds_per_evaluation']}" + (f" @ {s['scale']}" if s["scale"] else "")
                        for s in r["per_scale"])
        px = "x".join(map(str, reversed(r["image_px"])))
        lines.append(f"| {r['name']} | {px} | {r['evaluations']} | {r['loss']:.5g} | {r['seconds']:.1f} | {per} | "
                     f"{r['trace_seconds']:.1f} | {r['wall_seconds']:.0f} | {r['peak_rss_mb']:.0f} | "
                     f"{estimates.get(str(r['size']))} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluations", type=int, default=16, help="budget of the 256/512 px runs (default: 16)")
    parser.add_argument("--evaluations-768", type=int, default=4, help="budget of the 768 px run (default: 4)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="runs/style_sizes")
    parser.add_argument("--only", default=None, help="comma list of configuration names")
    parser.add_argument("--optimizers", default="lbfgs,adam", help="comma list (default: lbfgs,adam)")
    parser.add_argument("--noise", action="store_true", help="also from noise at 512 px, single vs 256,512")
    parser.add_argument("--start-losses", action="store_true",
                        help="also the loss of the final scale's possible start images (in this process)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    store = out / "results.jsonl"
    done = {}
    if store.is_file():
        for line in store.read_text().splitlines():
            entry = json.loads(line)
            done[entry["name"]] = entry
    wanted = set(args.only.split(",")) if args.only else None
    runs = configurations(args.evaluations, args.evaluations_768, args.noise, tuple(args.optimizers.split(",")))
    for run in runs:
        if (wanted and run["name"] not in wanted) or run["name"] in done:
            continue
        directory = out / run["name"].replace(",", "_")
        print(f"{run['name']}: {' '.join(command(run, args.threads, directory)[1:])}", flush=True)
        result = measure(run, args.threads, directory)
        print(json.dumps(result), flush=True)
        with open(store, "a") as handle:
            handle.write(json.dumps(result) + "\n")
        done[run["name"]] = result
    estimates = memory_estimates(sorted({run["size"] for run in runs}))
    results = [done[run["name"]] for run in runs if run["name"] in done]
    text = table(results, estimates)
    hosts = sorted({r.get("host_id") for r in results if r.get("host_id")})
    text += (f"\n\nhost {', '.join(hosts)}; threads {args.threads}; check_memory's available memory "
             f"{estimates['available_mib']} MiB; load average (1 min) before each command: "
             + ", ".join(f"{r['name']} {r['load_before'][0]}" for r in results))
    if args.start_losses:
        rows = start_losses(results, out)
        text += ("\n\nloss on the final size's problem of the final scale's possible start images:\n\n"
                 f"| run | {' | '.join(START_COLUMNS)} |\n|{'---|' * (len(START_COLUMNS) + 1)}\n"
                 + "\n".join(f"| {row['name']} | " + " | ".join(f"{row[c]:.5g}" for c in START_COLUMNS) + " |"
                             for row in rows))
    (out / "table.md").write_text(text + "\n")
    (out / "estimates.json").write_text(json.dumps(estimates) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
