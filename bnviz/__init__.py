"""bnviz: an interactive lab for Batch Normalization: config, data, models, recorder, trainer, records, plots.

The public names below load on first use, so `import bnviz` stays light: torch is imported only when a
torch-backed name (Trainer, build_model) is asked for.
"""

from __future__ import annotations

import importlib

_HOMES = {
    "RunConfig": "bnviz.config", "FIELDS": "bnviz.config", "ConfigError": "bnviz.config",
    "RunRecord": "bnviz.record", "RecordError": "bnviz.record", "column_key": "bnviz.record",
    "Trainer": "bnviz.trainer", "build_model": "bnviz.models", "site_names": "bnviz.models",
    "VIEWS": "bnviz.views", "summarize": "bnviz.summary", "plots": "bnviz.plots",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'bnviz' has no attribute {name!r}")
    module = importlib.import_module(_HOMES[name])
    value = module if _HOMES[name] == f"bnviz.{name}" else getattr(module, name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
