"""Run-config flags: one per RunConfig field, parsed exactly as URL parameters are; bad ones exit 2 naming the flag."""

from __future__ import annotations

import argparse

from bnviz.config import FIELDS, ConfigError, RunConfig


def flag(field: str) -> str:
    """The CLI flag of a RunConfig field: batch_size -> --batch-size."""
    return "--" + field.replace("_", "-")


# --- parser -------------------------------------------------------------------------------------
def add_config_flags(parser: argparse.ArgumentParser):
    """One flag per RunConfig field, read from FIELDS so the CLI cannot drift from the config.

    Values stay strings here and are parsed by `FIELDS[name].parse`, exactly as URL parameters are.
    """
    defaults = RunConfig().to_params()
    group = parser.add_argument_group("run config (every RunConfig field; defaults reproduce the article)")
    for name, spec in FIELDS.items():
        text = f"{spec.help}. Allowed: {spec.allowed()}. Default: {defaults[name]}"
        if spec.kind is bool:
            group.add_argument(flag(name), dest=name, nargs="?", const="true", metavar="true|false",
                               help=text + f" ({flag(name)} alone means true)")
            group.add_argument("--no-" + flag(name)[2:], dest=name, action="store_const", const="false",
                               help=f"same as {flag(name)} false")
        else:
            metavar = "{" + ",".join(spec.choices) + "}" if spec.choices else spec.kind.__name__.upper()
            metavar += f"|{spec.none_word}" if spec.optional else ""
            group.add_argument(flag(name), dest=name, metavar=metavar, help=text)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed: an int >= 1")
    return value


def config_from_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> RunConfig:
    params = {name: getattr(args, name) for name in FIELDS if getattr(args, name) is not None}
    try:
        return RunConfig.from_params(params)
    except ConfigError as err:
        fail_flag(parser, err)


def fail_flag(parser: argparse.ArgumentParser, err: ConfigError):
    """Exit 2 with a message naming the flag (not the field) and what is allowed."""
    parser.error(f"argument {flag(err.field)}: {err.value!r} is not allowed: {err.allowed}")
