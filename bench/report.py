"""results.json -> results.md: the throughput table and one short table per probe."""

from __future__ import annotations

from pathlib import Path

NAMES = {"bare": "a. bare PyTorch", "bnviz": "b. bnviz Trainer", "keras": "c. Keras (article)"}


def write_markdown(results: dict, path: Path):
    meta, settings = results["meta"], results["settings"]
    lines = ["# bnviz benchmark", "",
             f"{meta['date']}, commit {meta['commit']}: {meta['cpu']}, {meta['cores']} cores, device "
             f"{meta['device']}, torch {meta['torch']}, Keras {meta['keras']} (torch backend), Python "
             f"{meta['python']}, torch threads {meta['torch_threads']}, OMP_WAIT_POLICY "
             f"{meta.get('omp_wait_policy')}. Load average at start "
             f"{meta['loadavg_start'][0]:.2f}, at end {meta.get('loadavg_end', [float('nan')])[0]:.2f}. "
             f"Runtime {meta.get('runtime_s', 0):.0f} s." + (" **Quick mode: smoke test, not figures.**"
                                                          if settings["quick"] else ""), ""]
    for section in ("throughput", "interleaved", "drift", "denormal", "startup", "size", "browser"):
        if section in results:
            lines += globals()[f"_{section}"](results[section], settings) + [""]
    path.write_text("\n".join(lines))


def _rate(cell: dict | None) -> str:
    if not cell:
        return "-"
    spread = f" ({cell['min']:.0f}-{cell['max']:.0f})" if cell["n"] > 1 else ""
    return f"{cell['median']:.0f}{spread}"


def _ratio(row: dict, key: str) -> str:
    if key not in row:
        return "-"
    target = row.get(key + "_target")
    mark = "" if target is None else (" ok" if row[key] >= target else f" **< {target}**")
    return f"{row[key]:.2f}{mark}"


def _evaluation(cell: dict | None) -> str:
    if not cell or "eval_seconds" not in cell:
        return "-"
    return f"{cell['eval_seconds']:.2f} s / {cell['eval_interval']} steps"


def _throughput(section: dict, settings: dict) -> list[str]:
    lines = ["## Throughput (samples/s, median over repeats, min-max in brackets)", "",
             f"{settings['repeats']} repeats; each measurement in a fresh process ({settings['fresh_process']}), "
             f"contenders and configs interleaved; {settings['warmup']} warm-up steps, then "
             + ", ".join(f"{s} timed steps at batch {b}" for b, s in settings["steps"].items()) + ".", "",
             "| batch | BN | " + " | ".join(NAMES.values())
             + " | b/a | b/c | b/a, training only | b/a, evaluations spread | one evaluation |",
             "|---:|:--|" + "---:|" * (len(NAMES) + 5)]
    for row in section["summary"]:
        cells = [str(row["batch_size"]), "yes" if row["norm"] == "batch" else "no"]
        cells += [_rate(row.get(name)) for name in NAMES]
        cells += [_ratio(row, "b_over_a"), _ratio(row, "b_over_c"),
                  f"{row['b_train_only_over_a']:.2f}" if "b_train_only_over_a" in row else "-",
                  _ratio(row, "b_amortized_over_a"),
                  _evaluation(row.get("bnviz"))]
        lines.append("| " + " | ".join(cells) + " |")
    errors = [r for r in section["runs"] if "error" in r]
    lines += ["", "b is the wall time of `trainer.step(k)` with RunConfig defaults (histograms every 10th step, "
              "test-set evaluation every 8,000 training images when it falls in the window); 'training only' "
              "leaves the evaluations out (the trainer's own ms_per_step); 'evaluations spread' adds one "
              "evaluation's time (measured after the window) once per evaluation interval: the steady-state "
              "rate. c runs `model.fit` (verbose=0) on the same batches in the same order."]
    if errors:
        lines += ["", f"{len(errors)} measurement(s) failed: see results.json."]
    return lines


def _interleaved(section: list[dict], settings: dict) -> list[str]:
    header = ("| batch | blocks x steps | a. bare ms/step | b. bnviz ms/step | b/a (quartiles) | recorded step ms "
              "| plain step ms | recording per step |")
    lines = ["## Recording's cost in one process (BN; bare loop and Trainer stepped in alternating blocks)", "",
             header, "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in section:
        if "error" in row:
            lines.append(f"| {row['batch_size']} | - | - | - | failed | | | |")
        else:
            low, high = row["b_over_a_quartiles"]
            lines.append(f"| {row['batch_size']} | {row['blocks']} x {row['steps']} | {row['bare_ms']:.1f} | "
                         f"{row['bnviz_ms']:.1f} | {row['b_over_a']:.3f} ({low:.3f}-{high:.3f}) | "
                         f"{row['recorded_step_ms']:.1f} | {row['plain_step_ms']:.1f} | "
                         f"{100 * row['recording_share']:.1f}% |")
    return lines + ["", "b/a: the median of each round's ratio (the order alternates; a round holding a test-set "
                        "evaluation counts once), without the variance between fresh processes. Recorded vs plain "
                        "step: medians over whole snapshot periods of the Trainer alone (step(1), then step(9)); "
                        "'recording per step' is a recorded step's extra time, once per period, over a plain step."]


def _drift(section: list[dict], settings: dict) -> list[str]:
    lines = ["## Drift (batch 32, BN): ms per step, first vs last 10% of the run", "",
             "| run | contender | steps | first 10% mean (median) | last 10% mean (median) | last/first mean "
             "(median) |", "|:--|:--|---:|---:|---:|---:|"]
    for r in section:
        if "error" in r:
            lines.append(f"| {r['epochs']} epochs | {r['contender']} | failed | | | |")
            continue
        mark = "" if r["drift_median"] <= 1.10 else " **> 1.10**"
        lines.append(f"| {r['epochs']} epochs | {r['contender']} | {r['steps']} | {r['first10_mean_ms']:.1f} "
                     f"({r['first10_median_ms']:.1f}) | {r['last10_mean_ms']:.1f} ({r['last10_median_ms']:.1f}) | "
                     f"{r['drift_mean']:.2f} ({r['drift_median']:.2f}){mark} |")
    return lines + ["", "The first 10% includes step 0 (thread pool start, first allocations): the medians "
                        "leave such one-off steps out."]


def _denormal(section: dict, settings: dict) -> list[str]:
    state = section["late_state"]
    if "summary" not in section:
        return ["## Denormals", "", "The late state could not be made: see results.json."]
    runs = [r for r in section["runs"] if "error" not in r]
    lines = [f"## Denormals: BN model at batch 32 after {state.get('late_steps')} steps; {runs[0]['steps']} steps "
             f"timed per variant, median of {1 + max(r['repeat'] for r in runs)} fresh processes", "",
             "| torch.set_flush_denormal(True) | ms/step | flushing, per thread (calling thread first) |",
             "|:--|---:|---:|"]
    for name, s in section["summary"].items():
        flushed = " ".join(f"{v:.2f}" for v in s["flushed"])
        lines.append(f"| {name}: {s['description']} | {s['ms_per_step']:.1f} | {flushed} |")
    census = section["summary"].get("off", {}).get("denormal_grads", {})
    if census:
        lines += ["", "Denormal gradients in one backward pass of the late state, flush off: " + ", ".join(
            f"{name} {c['denormal']:,} of {c['of']:,}" for name, c in census.items()) + "."]
    return lines


def _startup(section: dict, settings: dict) -> list[str]:
    lines = ["## Time to the first record (default config, torch and bnviz.trainer imported)", ""]
    if "median" in section:
        m = section["median"]
        lines.append(f"Median {m['total_s']:.3f} s over {len(section['runs'])} fresh processes (target <= 1.0 s): "
                     f"data {m['data_s']:.3f} s, Trainer() {m['build_s']:.3f} s, first step {m['first_step_s']:.3f} s.")
    imports = section.get("imports", {})
    if "torch_s" in imports:
        lines.append(f"Before that, in a new interpreter: import torch {imports['torch_s']:.2f} s, "
                     f"then bnviz.trainer {imports['bnviz_trainer_s']:.2f} s.")
    return lines


def _size(section: dict, settings: dict) -> list[str]:
    if "error" in section:
        return ["## Run-record size", "", "Failed: see results.json."]
    rows, target = section["rows"], section["target_rows"]
    return ["## Run-record size (default cadence, batch 32)", "",
            "| steps | snapshots | .npz | in memory (stacked) | in memory (rows as appended, never read; at most) |",
            "|---:|---:|---:|---:|---:|",
            f"| {rows['steps']:,} (measured) | {rows['snapshots']} | {section['npz_bytes'] / 1e6:.2f} MB | "
            f"{section['stacked_bytes'] / 1e6:.2f} MB | {section['appended_bytes'] / 1e6:.2f} MB |",
            f"| {target['steps']:,} (projected) | {target['snapshots']} | "
            f"{section['projected_npz_bytes'] / 1e6:.2f} MB | "
            f"{section['projected_stacked_bytes'] / 1e6:.2f} MB | {section['projected_appended_bytes'] / 1e6:.2f} MB |",
            "", "Projected from the measured bytes per row of each table, times the rows a 10,000-step run keeps "
                "(RunRecord's own thinning, replayed); target < 20 MB."]


def _browser(section: dict, settings: dict) -> list[str]:
    summary, app = section["summary"], section["app_threads"]
    bare = {int(k): v for k, v in summary["bare_steps_per_s"].items()}
    every, first, rounds = max(bare), section["rounds"][0]["labs"]["shared"], len(section["rounds"])
    placements = {"shared": "sharing all cores with the server", "own_core": "on a core of its own"}

    def spread(value: dict, unit: str = "") -> str:
        if value["median"] is None:
            return "-"
        return f"{value['median']:.2f}{unit} ({value['min']:.2f}-{value['max']:.2f})"

    header = (f"| Chromium | Train click → first charts | chart refresh gaps | in-app steps/s | "
              f"in-app / bare loop, {app} thread{'s' * (app > 1)} (the app's) | in-app / bare loop, {every} threads | "
              "Chromium | server process |")
    rows = [header, "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, label in placements.items():
        if name not in summary:
            continue
        lab = summary[name]
        ratios = {int(k): v for k, v in lab["over_bare"].items()}
        gaps = (f"mean {lab['refresh_gap_mean_s']:.2f} s, max {lab['refresh_gap_max_s']:.2f} s "
                f"({lab['refresh_gaps']})" if lab["refresh_gaps"] else "-")
        rows.append(f"| {label} (CPUs {lab['browser_cpus']}; server {lab['server_cpus']}) | "
                    f"{spread(lab['first_chart_s'], ' s')} | {gaps} | {spread(lab['steps_per_s'])} | "
                    f"{spread(ratios[app])} | {spread(ratios[every])} | {spread(lab['chromium_cores'], ' core')} | "
                    f"{spread(lab['server_cores'], ' core')} |")
    loops = ", ".join(f"{threads} thread{'s' * (threads > 1)} {spread(value)}" for threads, value in bare.items())
    title = f"## The lab in headless Chromium (batch {first['batch_size']}, {rounds} round{'s' * (rounds > 1)})"
    return [title, "", *rows, "",
            f"Bare loop on the same config, steps/s: {loops}. Medians over the rounds (lowest-highest); each ratio "
            f"divides a round's in-app rate by that round's bare loop. Page clock for the first charts (histograms "
            f"and gradient-norm lines on screen) and the gaps (a new last step in the gradient-norm chart); steps/s "
            f"and CPU over {first['window_s']:.0f} s of training, CPU from /proc "
            f"(the server process includes its training thread). Targets: first charts <= 2 s, refresh >= 1/s, "
            f"in-app >= 0.8 x the bare loop."]
