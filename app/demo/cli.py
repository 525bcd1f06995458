"""`audit demo load`: a full console for a newcomer, from the real JDDC chats in ../shared/data."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from app.settings import REPO_ROOT, get_settings

demo_app = typer.Typer(help="Demo data.", no_args_is_help=True)
JDDC = (REPO_ROOT / ".." / "shared" / "data" / "dialogues" / "jddc_sample_sessions.jsonl").resolve()


@demo_app.command("load")
def load(
    conversations: Annotated[int, typer.Option(min=1, max=994, help="how many JDDC sessions to load")] = 300,
    days: Annotated[int, typer.Option(min=1, max=90, help="spread over this many past days")] = 21,
    seed: Annotated[int, typer.Option(help="same seed, same data")] = 7,
    password: Annotated[
        str | None, typer.Option(help="password of every demo user (default: a new random one each)")
    ] = None,
    source: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="JDDC sessions, JSONL")] = JDDC,
) -> None:
    """Load demo conversations (audited), reviews, appeals and one user per role; prints the passwords."""
    from tqdm import tqdm

    from app.db.base import utcnow
    from app.db.migrate import upgrade
    from app.db.session import make_engine, make_session_factory, session_scope
    from app.demo import scenarios, service
    from app.errors import AppError
    from app.runtime import AuditRuntime

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url, sqlite_busy_timeout=settings.sqlite_busy_timeout_seconds)
    factory = make_session_factory(engine)
    now = utcnow()
    plan = scenarios.DemoPlan(
        conversations=conversations, days=days, seed=seed, now=now, timezone=settings.timezone
    )
    payloads = scenarios.build(plan, scenarios.read_sessions(source))
    result = service.DemoResult()
    try:
        with session_scope(factory) as session:
            result.passwords = service.ensure_users(session, password=password)
        runtime = AuditRuntime(settings)
        with tqdm(total=len(payloads), unit="conv", file=sys.stderr) as bar:
            created = service.store(factory, runtime, payloads, result, bar.update)
        result.reviewed = service.review_some(factory, created=created, now=now, seed=seed)
        result.appeals = service.appeal_some(factory)
    except AppError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from exc
    finally:
        engine.dispose()
    typer.echo(
        f"demo data: {result.stored} conversations stored ({result.existing} already there, "
        f"{result.failed} failed), {result.flagged} flagged, {result.reviewed} reviewed, "
        f"{result.appeals} appeals filed"
    )
    typer.echo("sign in at http://127.0.0.1:8000/login as:")
    for name, plain in result.passwords.items():
        role, agent_id = service.DEMO_USERS[name]
        bound = f" (agent {agent_id})" if agent_id else ""
        typer.echo(f"  {name:<16} {role.value:<10} password: {plain}{bound}")
