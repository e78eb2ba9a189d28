"""What every command shares: turning library errors into messages, progress on stderr."""

from __future__ import annotations

import sys
from typing import Any

import click

from graphrisk.errors import GraphriskError


class GraphriskGroup(click.Group):
    """A click group that turns every :class:`GraphriskError` into a one-line message and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GraphriskError as exc:
            raise click.ClickException(str(exc)) from None


def progress(message: str) -> None:
    """A progress line on stderr (results go to stdout)."""
    click.echo(message, err=True)
    sys.stderr.flush()
