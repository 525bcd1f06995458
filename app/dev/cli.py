"""`audit dev seed --conversations N`: fill the configured PostgreSQL database with realistic conversations."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from app.settings import REPO_ROOT, get_settings

dev_app = typer.Typer(help="Developer tools (need the repository checkout).", no_args_is_help=True)


@dev_app.command("seed")
def seed(
    conversations: Annotated[int, typer.Option(min=1, help="how many conversations to write")],
    seed_: Annotated[int, typer.Option("--seed", help="random seed; also part of every row id")] = 0,
    url: Annotated[str | None, typer.Option(help="PostgreSQL URL (default AUDIT_DATABASE_URL)")] = None,
) -> None:
    """Write N audited conversations (real JDDC / STC-3 dialogues, varied agents and dates) with COPY."""
    target = url or get_settings().database_url
    if not target.startswith("postgresql"):
        typer.echo(
            "error: seeding needs PostgreSQL (--url or AUDIT_DATABASE_URL=postgresql+psycopg://...)", err=True
        )
        raise typer.Exit(2)
    # The seeder lives with the benchmarks that use it, outside the installed packages.
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from benchmarks.seed_pg import seed as run_seed

    run_seed(target, conversations, seed=seed_, log=typer.echo)
