"""The benchmark's sections: each plans its jobs, runs them through Workers, and summarizes the answers."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import statistics
import subprocess

from bench import browser as browser_probe
from bench import denormal as denormal_probe
from bench.workers import ROOT
from bnviz.config import RunConfig
from bnviz.live import default_limits

CONTENDERS = {"bare": "bench.bare_loop", "bnviz": "bench.bnviz_trainer", "keras": "bench.keras_seed"}
PROBES = "bench.probes"
TARGET_B_OVER_A = {8: 0.90}  # else 0.95 (issue 4)
TARGET_B_OVER_C = 1.3  # at batch 32 with BN
BROWSER_BATCH = 64  # the browser tests' batch size
RECORD_EVERY = RunConfig().record_every


def machine(args) -> dict:
    def version(package):
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            return None

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return {"date": datetime.datetime.now().isoformat(timespec="seconds"), "cpu": cpu, "cores": os.cpu_count(),
            "python": platform.python_version(), "torch": version("torch"), "keras": version("keras"),
            "torch_threads": os.environ.get("OMP_NUM_THREADS") or f"default ({os.cpu_count()})",
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default (spin, then sleep)"),
            "commit": commit.stdout.strip() or None, "loadavg_start": os.getloadavg(), "device": args.device}


# --- throughput --------------------------------------------------------------------------------------
def throughput(workers, args, log) -> dict:
    configs = [(b, n) for b in args.batch_sizes for n in args.norms]
    runs, total, done = [], args.repeats * len(configs) * len(args.contenders), 0
    for repeat in range(args.repeats):
        for i, (batch_size, norm) in enumerate(configs):
            turn = (repeat + i) % len(args.contenders)  # who goes first rotates
            for name in args.contenders[turn:] + args.contenders[:turn]:
                job = {"contender": name, "batch_size": batch_size, "norm": norm, "warmup": args.warmup,
                       "steps": args.steps[batch_size], "device": args.device, "repeat": repeat}
                answer = dict(job, **workers.run(CONTENDERS[name], job))
                runs.append(answer)
                done += 1
                shown = (f"{answer['samples_per_s']:8.0f} samples/s in {answer['seconds']:.2f} s"
                         if "error" not in answer else "FAILED: " + answer["error"].strip().splitlines()[-1])
                log(f"[{done}/{total}] repeat {repeat + 1}/{args.repeats} batch {batch_size:>3} norm {norm:5} "
                    f"{name:5} {shown}")
    return {"runs": runs, "summary": summarize(runs, configs)}


def summarize(runs: list[dict], configs) -> list[dict]:
    rows = []
    for batch_size, norm in configs:
        row = {"batch_size": batch_size, "norm": norm}
        for name in CONTENDERS:
            ok = [r for r in runs if (r["contender"], r["batch_size"], r["norm"]) == (name, batch_size, norm)
                  and "error" not in r]
            if ok:
                rates = [r["samples_per_s"] for r in ok]
                row[name] = {"median": statistics.median(rates), "min": min(rates), "max": max(rates), "n": len(rates)}
                if name == "bnviz":
                    row[name]["median_train_only"] = statistics.median(
                        r["steps"] * r["batch_size"] / r["train_only_seconds"] for r in ok)
                    row[name]["median_amortized"] = statistics.median(
                        r["steps"] * r["batch_size"] / r["amortized_seconds"] for r in ok)
                    row[name]["evals_in_window"] = ok[0]["evals_in_window"]
                    row[name]["eval_seconds"] = statistics.median(r["eval_seconds"] for r in ok)
                    row[name]["eval_interval"] = ok[0]["eval_interval"]
        a, b, c = (row.get(name, {}).get("median") for name in ("bare", "bnviz", "keras"))
        if a and b:
            row["b_over_a"] = b / a
            row["b_over_a_target"] = TARGET_B_OVER_A.get(batch_size, 0.95)
            row["b_train_only_over_a"] = row["bnviz"]["median_train_only"] / a
            row["b_amortized_over_a"] = row["bnviz"]["median_amortized"] / a
            row["b_amortized_over_a_target"] = row["b_over_a_target"]
        if b and c:
            row["b_over_c"] = b / c
            if batch_size == 32 and norm == "batch":
                row["b_over_c_target"] = TARGET_B_OVER_C
        rows.append(row)
    return rows


# --- drift ----------------------------------------------------------------------------------------
def drift(workers, args, log) -> list[dict]:
    out = []
    for epochs in args.drift_epochs:
        for name in ("bnviz", "bare"):
            job = {"task": "drift", "contender": name, "epochs": epochs, "batch_size": 32, "norm": "batch"}
            answer = dict(job, **workers.run(PROBES, job))
            out.append(answer)
            if "error" in answer:
                log(f"drift {epochs} epochs {name}: FAILED: {answer['error'].strip().splitlines()[-1]}")
                continue
            log(f"drift {epochs} epochs ({answer['steps']} steps) {name:5}: first 10% "
                f"{answer['first10_mean_ms']:.1f} ms (median {answer['first10_median_ms']:.1f}), last 10% "
                f"{answer['last10_mean_ms']:.1f} ms (median {answer['last10_median_ms']:.1f}): "
                f"x{answer['drift_mean']:.2f} (median x{answer['drift_median']:.2f})")
    return out


# --- denormal -------------------------------------------------------------------------------------
def denormal(workers, args, log) -> dict:
    module = "bench.denormal"
    base = {"batch_size": 32, "norm": "batch", "device": "cpu", "path": str(args.out / "late_state.pt")}
    state = dict(base, **workers.run(module, dict(base, task="late_state", warmup=0, steps=0,
                                                  late_steps=args.late_steps)))
    if "error" in state:
        log("denormal: the late state failed: " + state["error"].strip().splitlines()[-1])
        return {"late_state": state}
    log(f"denormal: trained {args.late_steps} steps in {state['seconds']:.1f} s for the late state")
    variants, runs = list(denormal_probe.VARIANTS), []
    for repeat in range(1 if args.quick else 3):
        for name in variants[repeat:] + variants[:repeat]:
            job = dict(base, task="measure", variant=name, warmup=5, steps=10 if args.quick else 40, repeat=repeat)
            answer = dict(job, **workers.run(module, job))
            runs.append(answer)
            shown = (f"{answer['ms_per_step']:6.1f} ms/step, flushed per thread {answer['flushed']}"
                     if "error" not in answer else "FAILED: " + answer["error"].strip().splitlines()[-1])
            log(f"denormal {name:18} {shown}")
    summary = {}
    for name in variants:
        ok = [r for r in runs if r["variant"] == name and "error" not in r]
        if ok:
            summary[name] = {"description": denormal_probe.VARIANTS[name],
                             "ms_per_step": statistics.median(r["ms_per_step"] for r in ok),
                             "flushed": ok[0]["flushed"], "denormal_grads": ok[0]["denormal_grads"]}
    return {"late_state": state, "runs": runs, "summary": summary}


# --- interleaved -------------------------------------------------------------------------------
def interleaved(workers, args, log) -> list[dict]:
    """b/a from the bare loop and the Trainer stepped in alternating blocks in one process, with BN."""
    rows = []
    for batch_size in args.batch_sizes:
        # Blocks of whole snapshot periods, so that each holds as many recorded steps.
        steps = max(1, round(args.steps[batch_size] / 5 / RECORD_EVERY)) * RECORD_EVERY
        job = {"task": "interleaved", "batch_size": batch_size, "norm": "batch", "warmup": args.warmup,
               "steps": steps, "blocks": 4 if args.quick else 12, "device": args.device,
               "periods": 2 if args.quick else max(10, 2 * steps // RECORD_EVERY)}  # then timed period by period
        answer = dict(job, **workers.run(PROBES, job))
        rows.append(answer)
        shown = "FAILED" if "error" in answer else (
            f"bare {answer['bare_ms']:.1f} ms, bnviz {answer['bnviz_ms']:.1f} ms per step, "
            f"b/a {answer['b_over_a']:.3f} "
            f"(quartiles {answer['b_over_a_quartiles'][0]:.3f}-{answer['b_over_a_quartiles'][1]:.3f}); a recorded "
            f"step {answer['recorded_step_ms']:.1f} ms vs {answer['plain_step_ms']:.1f}: "
            f"{100 * answer['recording_share']:.1f}% per step")
        log(f"interleaved, batch {batch_size}: {shown}")
    return rows


# --- startup and size -------------------------------------------------------------------------------
def startup(workers, args, log) -> dict:
    runs = [workers.run(PROBES, {"task": "first_record", "repeat": r}) for r in range(2 if args.quick else 5)]
    ok = [r for r in runs if "error" not in r]
    out = {"runs": runs}
    if ok:
        out["median"] = {key: statistics.median(r[key] for r in ok)
                         for key in ("total_s", "data_s", "build_s", "first_step_s")}
        m = out["median"]
        log(f"time to first record {m['total_s']:.3f} s (data {m['data_s']:.3f}, Trainer() {m['build_s']:.3f}, "
            f"first step {m['first_step_s']:.3f}); target <= 1.0 s")
    spawned = type(workers)(workers.log_dir, spawn=True)  # a new interpreter: what an import really costs
    out["imports"] = spawned.run("bench.import_cost", {"task": "import_cost"})
    if "error" in out["imports"]:
        log("import cost: FAILED")
    else:
        log(f"import torch {out['imports']['torch_s']:.2f} s, then bnviz.trainer "
            f"{out['imports']['bnviz_trainer_s']:.2f} s (fresh interpreter)")
    return out


def size(workers, args, log) -> dict:
    job = {"task": "record_size", "batch_size": 32, "steps": args.size_steps, "target_steps": 10_000}
    answer = dict(job, **workers.run(PROBES, job))
    if "error" in answer:
        log("size: FAILED: " + answer["error"].strip().splitlines()[-1])
    else:
        log(f"size after {job['steps']} steps: {answer['npz_bytes'] / 1e6:.2f} MB .npz, "
            f"{answer['stacked_bytes'] / 1e6:.2f} MB in memory; projected at 10,000 steps "
            f"({answer['target_rows']['snapshots']} snapshots after thinning): "
            f"{answer['projected_npz_bytes'] / 1e6:.2f} MB .npz, {answer['projected_stacked_bytes'] / 1e6:.2f} MB "
            f"in memory; target < 20 MB")
    return answer


def browser(workers, args, log) -> dict:
    """The lab trained in headless Chromium, with the browser sharing the server's cores (as in the browser
    tests) and, on two or more CPUs, kept on a core of its own (as a visitor's browser on their own machine);
    next to the bare loop on the same config at the app's training threads and at all threads. In rounds,
    so that each ratio compares runs a minute or two apart on this noisy machine, not the first lab run with
    the last bare loop."""
    warm_s, window_s = (2, 5) if args.quick else (5, 15)
    cpus = sorted(os.sched_getaffinity(0))
    placements = {"shared": None}
    if len(cpus) > 1:
        placements["own_core"] = {cpus[-1]}
    app_threads = default_limits(len(cpus))[1]
    thread_counts = sorted({app_threads, len(cpus)})
    rounds, names = [], list(placements)
    for number in range(args.browser_rounds):
        labs, bare = {}, {}
        for name in names[number % len(names):] + names[:number % len(names)]:  # who goes first rotates
            labs[name] = browser_probe.lab_in_browser(ROOT, BROWSER_BATCH, warm_s, window_s,
                                                      args.out / "logs" / f"browser-server-{name}.log",
                                                      browser_cpus=placements[name])
            lab = labs[name]
            log(f"round {number + 1}, browser {name} (CPUs {lab['browser_cpus']}, server {lab['server_cpus']}): "
                f"{lab['steps_per_s']} steps/s, first charts {lab['first_chart_s']} s after Train, "
                f"Chromium {lab['chromium_cores']} core, server {lab['server_cores']} core")
        for threads in thread_counts:
            job = {"contender": "bare", "batch_size": BROWSER_BATCH, "norm": "batch", "warmup": args.warmup,
                   "steps": 20 if args.quick else 100, "device": "cpu", "threads": threads}
            answer = workers.run(CONTENDERS["bare"], job)
            bare[threads] = None if "error" in answer else round(answer["samples_per_s"] / BROWSER_BATCH, 2)
            log(f"round {number + 1}, bare loop, {threads} thread(s): {bare[threads]} steps/s")
        rounds.append({"labs": labs, "bare_steps_per_s": bare})
    return {"app_threads": app_threads, "rounds": rounds, "summary": summarize_browser(rounds)}


def summarize_browser(rounds: list[dict]) -> dict:
    """Per placement: medians over the rounds of in-app steps/s and of its ratio to each bare loop of the
    same round, with their ranges; first charts (median, max) and all refresh gaps."""
    summary = {}
    for name in rounds[0]["labs"]:
        labs = [r["labs"][name] for r in rounds]
        gaps = [gap for lab in labs for gap in lab["refresh_gaps_s"]]
        ratios = {}
        for threads in rounds[0]["bare_steps_per_s"]:
            values = [r["labs"][name]["steps_per_s"] / r["bare_steps_per_s"][threads] for r in rounds
                      if r["bare_steps_per_s"][threads] and r["labs"][name]["steps_per_s"]]
            ratios[threads] = _spread(values)
        summary[name] = {
            "browser_cpus": labs[0]["browser_cpus"], "server_cpus": labs[0]["server_cpus"],
            "steps_per_s": _spread([lab["steps_per_s"] for lab in labs if lab["steps_per_s"]]),
            "over_bare": ratios,
            "first_chart_s": _spread([lab["first_chart_s"] for lab in labs]),
            "refresh_gap_mean_s": round(statistics.mean(gaps), 2) if gaps else None,
            "refresh_gap_max_s": max(gaps, default=None), "refresh_gaps": len(gaps),
            "chromium_cores": _spread([lab["chromium_cores"] for lab in labs]),
            "server_cores": _spread([lab["server_cores"] for lab in labs])}
    summary["bare_steps_per_s"] = {threads: _spread([r["bare_steps_per_s"][threads] for r in rounds
                                                     if r["bare_steps_per_s"][threads]])
                                   for threads in rounds[0]["bare_steps_per_s"]}
    return summary


def _spread(values: list[float]) -> dict:
    """Median, lowest and highest of `values`, to 2 decimals (None for each when there are none)."""
    if not values:
        return {"median": None, "min": None, "max": None}
    return {"median": round(statistics.median(values), 2), "min": round(min(values), 2), "max": round(max(values), 2)}
