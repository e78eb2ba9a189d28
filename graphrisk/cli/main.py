"""Entry point of the `graphrisk` command: a click group assembling one module per command group."""

from __future__ import annotations

import importlib
import pkgutil

import click

from graphrisk import __version__
from graphrisk.cli.common import GraphriskGroup


@click.group(cls=GraphriskGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="graphrisk")
def main() -> None:
    """graphrisk: guarantee circles, ownership, contagion and connected groups from enterprise tables."""


def _register() -> None:
    """Every module of this package that defines ``COMMANDS`` adds them: a new command group is one new file."""
    import graphrisk.cli as package

    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for command in getattr(module, "COMMANDS", ()):
            main.add_command(command)


_register()
