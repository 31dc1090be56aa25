"""The paper's numbers and ours as (what, value) rows for a page's table: flattened, rounded, arms that have not
trained yet left out."""

from __future__ import annotations


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(_fmt(v) for v in value)
    return str(value)


def paper_rows(paper: dict, prefix: str = "") -> list[tuple[str, str]]:
    """The paper's numbers, nested dicts flattened into 'a / b' names."""
    rows = []
    for key, value in paper.items():
        name = f"{prefix}{key}".replace("_", " ")
        if isinstance(value, dict):
            rows += paper_rows(value, f"{prefix}{key} / ")
        else:
            rows.append((name, _fmt(value)))
    return rows


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def our_rows(name: str, m: dict) -> list[tuple[str, str]]:
    """The few numbers the verdict reads, for reproduction `name`."""
    rows = []
    if name == "ioffe2015":
        for arm, label in (("bn", "with BN"), ("none", "without BN")):
            if arm in m:
                a = m[arm]
                rows += [(f"{label}: final test accuracy", _pct(a["final_acc"])),
                         (f"{label}: first step at {m['acc_bar']:.0%}", _fmt(a["steps_to_bar"] or "never")),
                         (f"{label}: percentile drift (median over units)", f"{a['drift_median']:.2f}")]
    elif name == "wu2018":
        for model in m.get("models", []):
            p = m[model]
            for norm in p["error"]:
                rows.append((f"{model} {norm}: error at batch {', '.join(map(str, p['batches']))}",
                             ", ".join(f"{e:.1f}%" for e in p["error"][norm])))
            rows += [(f"{model}: BN small/large error ratio", f"x{p.get('batch_ratio', float('nan')):.2f}"),
                     (f"{model}: GN small/large error ratio", f"x{p.get('group_ratio', float('nan')):.2f}")]
    elif name == "higher_lr":
        for arm, label in (("bn", "with BN"), ("none", "without BN")):
            if arm in m:
                rows.append((f"{label}: largest rate that trains", _fmt(m[arm]["largest"] or "none")))
                rows.append((f"{label}: final accuracy at {_fmt(m[arm]['rates'])}",
                             ", ".join(_pct(a) for a in m[arm]["final_acc"])))
    elif name == "small_batch":
        for key, label in (("train_mode", "train mode"), ("eval_mode", "eval mode"),
                           ("recalibrated", "eval mode, recalibrated")):
            if key in m:
                rows.append((f"{label} at batch {_fmt(m['batches'])}", ", ".join(_pct(a) for a in m[key])))
    elif name == "santurkar2018":
        for arm, label in (("bn", "BN"), ("noisy_bn", "noisy BN"), ("none", "no BN")):
            if arm in m:
                rows += [(f"{label}: final test accuracy", _pct(m[arm]["final_acc"])),
                         (f"{label}: median per-step shift", f"{m[arm]['median_shift']:.3f}")]
    return rows
