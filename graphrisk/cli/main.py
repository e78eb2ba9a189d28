"""Entry point of the `graphrisk` command: a click group assembling one module per command group."""

from __future__ import annotations

import click

from graphrisk import __version__
from graphrisk.cli.common import GraphriskGroup


@click.group(cls=GraphriskGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="graphrisk")
def main() -> None:
    """graphrisk: guarantee circles, ownership, contagion and connected groups from enterprise tables."""


def _register() -> None:
    from graphrisk.cli import data, generate, scan

    for module in (data, generate, scan):
        for command in module.COMMANDS:
            main.add_command(command)


_register()
