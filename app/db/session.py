"""Engine and sessions; on SQLite writers queue for the one write lock instead of failing.

SQLite allows one writer at a time. pysqlite's own transaction handling begins a transaction lazily and
*deferred*: a transaction that has read and then wants to write fails at once with `database is locked`
when another connection committed in between, whatever the busy timeout, and savepoints start such
transactions. So, as SQLAlchemy's documented recipe for pysqlite has it, we take transaction control away
from the driver (`isolation_level = None`) and emit BEGIN ourselves, with IMMEDIATE wherever a transaction
may write: it takes the write lock before the first read, waiting for it (the busy timeout) rather than
failing. Inside one process writers wait in a lock of ours first (the writer lane), which hands the write
lock over at once instead of leaving waiters to poll SQLite's busy handler.

Three ways a transaction begins on SQLite (`BEGIN_MODE` execution option; PostgreSQL ignores it):
- ``lazy`` (requests): no BEGIN for reads, which each see the latest commit (as READ COMMITTED would);
  BEGIN IMMEDIATE just before the first write. Nothing holds the write lock while waiting for a thread.
- ``immediate`` (`session_scope`, `write_transaction`): BEGIN IMMEDIATE before the first statement, so
  what the unit of work read cannot change before it writes (SQLite's SELECT … FOR UPDATE).
- ``deferred``: a plain BEGIN, one snapshot for a unit of work that only reads.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

BeginMode = Literal["lazy", "immediate", "deferred"]
BEGIN_MODE = "audit_sqlite_begin"
_LANE_HELD = "audit_writer_lane_held"
# Statements that never write: they run outside a transaction in `lazy` mode.
_READ = re.compile(r"\s*(SELECT|PRAGMA|EXPLAIN|BEGIN|COMMIT|ROLLBACK|RELEASE)\b", re.IGNORECASE)


def make_engine(url: str, *, sqlite_busy_timeout: float = 60.0) -> Engine:
    """Create the engine for `url` with the per-backend settings we rely on.

    `sqlite_busy_timeout` bounds how long a SQLite writer queues for the write lock before it gives up.
    """
    if url.startswith("sqlite"):
        return _sqlite_engine(url, busy_timeout=sqlite_busy_timeout)
    # hide_parameters: error messages (and so logs) never carry the transcript text bound to a statement.
    # pool_pre_ping drops connections a restarted server closed; connect_timeout bounds a wait for one
    # that does not answer, so a request fails with 503 instead of hanging. Up to 50 connections: more
    # than the 40 threads that run requests, so a request never waits for a connection another holds.
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=40,
        pool_timeout=10,
        hide_parameters=True,
        connect_args={"connect_timeout": 5},
    )


def _sqlite_engine(url: str, *, busy_timeout: float) -> Engine:
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": busy_timeout},
        hide_parameters=True,
        # SQLite connections are cheap; never make a request wait for one (writers queue in the lane).
        pool_size=20,
        max_overflow=-1,
    )
    lane = threading.Lock()

    def begin_immediate(conn: Connection, dbapi_conn: Any) -> None:
        if not lane.acquire(timeout=busy_timeout):
            raise OperationalError("BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked"))
        try:
            dbapi_conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            lane.release()
            raise OperationalError("BEGIN IMMEDIATE", None, exc) from exc
        except BaseException:
            lane.release()
            raise
        conn.info[_LANE_HELD] = True

    def end(info: dict[Any, Any], dbapi_conn: Any, statement: str) -> None:
        # End the SQLite transaction before the next writer is let in (SQLAlchemy's own COMMIT or
        # ROLLBACK that follows is then a no-op).
        if not info.pop(_LANE_HELD, False):
            return
        try:
            dbapi_conn.commit() if statement == "COMMIT" else dbapi_conn.rollback()
        except sqlite3.Error as exc:
            raise OperationalError(statement, None, exc) from exc
        finally:
            lane.release()

    @event.listens_for(engine, "connect")
    def _sqlite_connect(dbapi_conn: Any, _: Any) -> None:
        dbapi_conn.isolation_level = None  # we say when transactions begin (see the module docstring)
        # WAL lets readers go on while one writer writes; foreign keys are off by default in SQLite.
        dbapi_conn.execute("PRAGMA journal_mode=WAL")
        dbapi_conn.execute("PRAGMA foreign_keys=ON")
        dbapi_conn.execute("PRAGMA synchronous=NORMAL")

    @event.listens_for(engine, "begin")
    def _sqlite_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(BEGIN_MODE, "lazy")
        dbapi_conn: Any = conn.connection.dbapi_connection
        if mode == "immediate":
            begin_immediate(conn, dbapi_conn)
        elif mode == "deferred":
            dbapi_conn.execute("BEGIN")

    @event.listens_for(engine, "before_cursor_execute")
    def _sqlite_first_write(
        conn: Connection, _cursor: Any, statement: str, _params: Any, _context: Any, _many: bool
    ) -> None:
        dbapi_conn = conn.connection.dbapi_connection
        if dbapi_conn is not None and not dbapi_conn.in_transaction and not _READ.match(statement):
            begin_immediate(conn, dbapi_conn)

    @event.listens_for(engine, "commit")
    def _sqlite_commit(conn: Connection) -> None:
        end(conn.info, conn.connection.dbapi_connection, "COMMIT")

    @event.listens_for(engine, "rollback")
    def _sqlite_rollback(conn: Connection) -> None:
        end(conn.info, conn.connection.dbapi_connection, "ROLLBACK")

    # A connection returned or dropped without SQLAlchemy's commit or rollback must not keep the lane.
    @event.listens_for(engine.pool, "reset")
    def _sqlite_reset(dbapi_conn: Any, record: Any, _state: Any) -> None:
        end(record.info, dbapi_conn, "ROLLBACK")

    @event.listens_for(engine.pool, "invalidate")
    def _sqlite_invalidate(_dbapi_conn: Any, record: Any, _exc: Any) -> None:
        if record.info.pop(_LANE_HELD, False):
            lane.release()

    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Session factory; objects stay readable after commit so responses can be built from them."""
    return sessionmaker(engine, expire_on_commit=False)


def begin(session: Session, mode: BeginMode) -> None:
    """Begin the session's next transaction in `mode` (see the module docstring); it must have none open."""
    session.connection(execution_options={BEGIN_MODE: mode})


@contextmanager
def session_scope(factory: sessionmaker[Session], *, read_only: bool = False) -> Iterator[Session]:
    """A unit of work outside a request (worker, CLI): commit on success, roll back on error.

    On SQLite it holds the write lock from its first statement (unless `read_only`): keep it short.
    """
    session = factory()
    try:
        begin(session, "deferred" if read_only else "immediate")
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def write_transaction(session: Session) -> Iterator[Session]:
    """Run the block as one short write transaction of its own, committed when the block ends.

    What the session held before is committed first (a request's reads). For use cases that must not
    hold the write lock across slow work (the audit model): store in one, work outside, record in another.
    """
    session.commit()
    begin(session, "immediate")
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
