"""`graphrisk generate`: write a synthetic portfolio with planted risk patterns and its ground truth."""

from __future__ import annotations

from pathlib import Path

import click

from graphrisk.synth import MIN_ENTERPRISES, generate_portfolio, portfolio_files


def _progress(message: str) -> None:
    click.echo(message, err=True)


@click.command("generate")
@click.argument("out_dir", type=click.Path(file_okay=False, dir_okay=True, path_type=Path))
@click.option(
    "--enterprises",
    "n_enterprises",
    type=click.IntRange(min=MIN_ENTERPRISES),
    default=300,
    show_default=True,
    help="Number of enterprises.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed; equal seeds give equal files.")
def generate(out_dir: Path, n_enterprises: int, seed: int) -> None:
    """Write a synthetic portfolio (one CSV per table plus ground_truth.json) into OUT_DIR."""
    portfolio = generate_portfolio(n_enterprises, seed=seed, progress=_progress)
    files = portfolio_files(portfolio)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (out_dir / name).write_bytes(data)
    counts = ", ".join(f"{name} {len(df):,}" for name, df in portfolio.tables.items())
    patterns = len(portfolio.ground_truth["patterns"])
    click.echo(f"{out_dir}: {counts}; {patterns:,} planted patterns in ground_truth.json")


COMMANDS = [generate]
