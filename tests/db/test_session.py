"""SQLite transactions: writers queue for the write lock instead of failing, savepoints commit nothing."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from app.db.session import make_engine, make_session_factory, session_scope, write_transaction


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    """A SQLite file with one counter table."""
    engine = make_engine(f"sqlite:///{tmp_path / 't.db'}", sqlite_busy_timeout=10)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)"))
    return engine


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    """The app's session factory on that file."""
    return make_session_factory(engine)


def _rows(factory: sessionmaker[Session]) -> list[int]:
    with factory() as s:
        return [int(n) for n in s.scalars(text("SELECT n FROM t ORDER BY n"))]


def _hold_write_lock(factory: sessionmaker[Session], seconds: float, started: threading.Event) -> None:
    with session_scope(factory) as s:
        s.execute(text("INSERT INTO t (n) VALUES (0)"))
        started.set()
        time.sleep(seconds)


def _insert_then_fail(s: Session) -> None:
    with write_transaction(s):
        s.execute(text("INSERT INTO t (n) VALUES (2)"))
        _ = 1 / 0


class TestWritersQueue:
    def test_read_modify_write_units_run_one_after_another(self, factory: sessionmaker[Session]) -> None:
        errors: list[BaseException] = []

        def increment() -> None:
            try:
                with session_scope(factory) as s:
                    top = s.scalar(text("SELECT coalesce(max(n), 0) FROM t"))
                    time.sleep(0.02)  # another writer would commit here if the read did not hold the lock
                    s.execute(text("INSERT INTO t (n) VALUES (:n)"), {"n": int(top or 0) + 1})
            except BaseException as exc:  # collected: a thread's exception would otherwise vanish
                errors.append(exc)

        threads = [threading.Thread(target=increment) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert _rows(factory) == list(range(1, 13))

    def test_a_request_that_read_can_write_after_another_commit(self, factory: sessionmaker[Session]) -> None:
        request = factory()  # the request session: reads take no lock, the first write takes it
        assert request.scalar(text("SELECT count(*) FROM t")) == 0
        with session_scope(factory) as other:
            other.execute(text("INSERT INTO t (n) VALUES (1)"))
        request.execute(text("INSERT INTO t (n) VALUES (2)"))  # a deferred snapshot would fail: locked
        request.commit()
        request.close()
        assert _rows(factory) == [1, 2]

    def test_a_writer_waits_for_the_lock_within_the_busy_timeout(
        self, factory: sessionmaker[Session]
    ) -> None:
        started = threading.Event()
        holder = threading.Thread(target=_hold_write_lock, args=(factory, 0.5, started))
        holder.start()
        started.wait()
        t0 = time.monotonic()
        with session_scope(factory) as s:
            s.execute(text("INSERT INTO t (n) VALUES (1)"))
        waited = time.monotonic() - t0
        holder.join()
        assert _rows(factory) == [0, 1]
        assert 0.3 < waited < 5

    def test_past_the_busy_timeout_it_fails_as_a_database_error(self, tmp_path: Path) -> None:
        engine = make_engine(f"sqlite:///{tmp_path / 'short.db'}", sqlite_busy_timeout=0.2)
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)"))
        factory = make_session_factory(engine)
        started = threading.Event()
        holder = threading.Thread(target=_hold_write_lock, args=(factory, 1.0, started))
        holder.start()
        started.wait()
        with pytest.raises(OperationalError), session_scope(factory) as s:
            s.execute(text("INSERT INTO t (n) VALUES (1)"))
        holder.join()
        assert _rows(factory) == [0]


class TestTransactions:
    def test_a_released_savepoint_commits_nothing_on_its_own(self, factory: sessionmaker[Session]) -> None:
        # pysqlite's own handling made the first SAVEPOINT the outermost transaction: RELEASE committed it.
        with factory() as s:
            with s.begin_nested():
                s.execute(text("INSERT INTO t (n) VALUES (1)"))
            s.rollback()
        assert _rows(factory) == []

    def test_write_transaction_commits_at_its_end(self, factory: sessionmaker[Session]) -> None:
        with factory() as s:
            s.scalar(text("SELECT count(*) FROM t"))
            with write_transaction(s):
                s.execute(text("INSERT INTO t (n) VALUES (1)"))
            assert _rows(factory) == [1]  # visible to others before the session ends
            with pytest.raises(ZeroDivisionError):
                _insert_then_fail(s)
        assert _rows(factory) == [1]

    def test_an_abandoned_transaction_releases_the_lock(self, factory: sessionmaker[Session]) -> None:
        s = factory()
        s.execute(text("INSERT INTO t (n) VALUES (1)"))
        s.close()  # neither commit nor rollback by the caller
        t0 = time.monotonic()
        with session_scope(factory) as other:
            other.execute(text("INSERT INTO t (n) VALUES (2)"))
        assert time.monotonic() - t0 < 1
        assert _rows(factory) == [2]
