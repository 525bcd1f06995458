"""`audit users …`: console accounts for people (API keys stay for machine clients)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from app.settings import get_settings

users_app = typer.Typer(help="Console users (people who sign in at /login).", no_args_is_help=True)


def _run(action: Callable[[Any], Any]) -> Any:
    from app.db.session import make_engine, make_session_factory, session_scope
    from app.errors import AppError

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database_url, sqlite_busy_timeout=settings.sqlite_busy_timeout_seconds)
    try:
        with session_scope(make_session_factory(engine)) as session:
            return action(session)
    except AppError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from exc
    finally:
        engine.dispose()


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(typer.prompt("password", hide_input=True, confirmation_prompt=True))


@users_app.command("create")
def create(
    role: Annotated[str, typer.Option(help="supervisor | auditor | agent | admin | ingest")],
    name: Annotated[str, typer.Option(help="the sign-in name")],
    agent_id: Annotated[str | None, typer.Option(help="the agent id an `agent` user is bound to")] = None,
    password_stdin: Annotated[bool, typer.Option(help="read the password from stdin (one line)")] = False,
) -> None:
    """Create a user; the password is asked for twice (or read from stdin) and stored only as argon2."""
    from app.users.service import create_user

    password = _password(password_stdin)
    user = _run(lambda s: create_user(s, name=name, role=role, password=password, agent_id=agent_id))
    bound = f", agent {user.agent_id}" if user.agent_id else ""
    typer.echo(f"created {user.role} user {user.name}{bound}; sign in at /login")


@users_app.command("list")
def list_() -> None:
    """Users, one a line: name, role, agent id, state."""
    from app.db.base import utcnow
    from app.users.service import list_users

    def rows(session: Any) -> list[str]:
        now = utcnow()
        out = []
        for u in list_users(session):
            state = (
                "disabled"
                if u.disabled_at
                else "locked"
                if u.locked_until and u.locked_until > now
                else "active"
            )
            out.append(f"{u.name}\t{u.role}\t{u.agent_id or '-'}\t{state}")
        return out

    for line in _run(rows):
        typer.echo(line)


@users_app.command("set-password")
def set_password(
    name: Annotated[str, typer.Option(help="the sign-in name")],
    password_stdin: Annotated[bool, typer.Option(help="read the password from stdin (one line)")] = False,
) -> None:
    """Set a new password (ends the user's sessions, lifts a lock-out)."""
    from app.users.service import set_password as set_pw

    password = _password(password_stdin)
    _run(lambda s: set_pw(s, name=name, password=password))
    typer.echo(f"password of {name} changed; its sessions were ended")


@users_app.command("unlock")
def unlock(name: Annotated[str, typer.Option(help="the sign-in name")]) -> None:
    """Lift a lock-out after repeated failed sign-ins."""
    from app.users.service import unlock as unlock_user

    _run(lambda s: unlock_user(s, name=name))
    typer.echo(f"{name} unlocked")


@users_app.command("disable")
def disable(name: Annotated[str, typer.Option(help="the sign-in name")]) -> None:
    """Refuse a user's sign-ins from now on and end its sessions."""
    from app.users.service import disable as disable_user

    _run(lambda s: disable_user(s, name=name))
    typer.echo(f"{name} disabled")
