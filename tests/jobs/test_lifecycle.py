"""The job and conversation lifecycle at service level: recovery, retries, callbacks once, stranded audits."""

from __future__ import annotations

import json
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from app.conversations.enums import ConversationStatus
from app.conversations.schemas import ConversationCreate
from app.conversations.service import create_conversation
from app.db import Base, Conversation, Job, Utterance
from app.db.base import utcnow
from app.db.migrate import upgrade
from app.db.session import make_engine, make_session_factory, session_scope
from app.errors import Conflict
from app.jobs import lifecycle
from app.jobs.enums import JobStatus
from app.runtime import AuditRuntime
from app.settings import REPO_ROOT, Settings
from tests.conftest import ensure_postgres

DEAD_WORKER = f"{socket.gethostname()}:999999:dead"  # this host, a pid that does not exist


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    """A migrated database on each backend, emptied after the test."""
    url = f"sqlite:///{tmp_path / 'jobs.db'}" if request.param == "sqlite" else ensure_postgres()
    upgrade(url)
    engine = make_engine(url)
    made = make_session_factory(engine)
    yield made
    with session_scope(made) as s:
        for table in reversed(Base.metadata.sorted_tables):
            s.execute(delete(table))
    engine.dispose()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with loopback callbacks allowed and the emotion model off (not under test here)."""
    return Settings(
        data_dir=tmp_path,
        model_dir=REPO_ROOT / "var" / "models",
        start_worker=False,
        emotion_enabled=False,
        callback_secret="test-callback-secret-0123456789",
        outbound_allowlist="127.0.0.1",
    )


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, object]]]]:
    """A callback receiver on loopback: (url, bodies received)."""
    received: list[dict[str, object]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            del args

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()


def _audio_job(
    factory: sessionmaker[Session], *, attempts: int, status: JobStatus, callback_url: str | None
) -> uuid.UUID:
    """An audio conversation with its job, as a worker killed mid-transcription leaves them."""
    conv = Conversation(
        external_id=f"rec-{uuid.uuid4().hex[:8]}",
        payload_sha256="0" * 64,
        source="audio",
        channel="phone",
        agent_id="a1",
        started_at=utcnow(),
        status=ConversationStatus.PENDING_TRANSCRIPTION,
    )
    with session_scope(factory) as s:
        s.add(conv)
        s.flush()
        job = Job(
            conversation_id=conv.id,
            status=status,
            attempts=attempts,
            max_attempts=3,
            worker_id=DEAD_WORKER,
            heartbeat_at=utcnow(),
            callback_url=callback_url,
        )
        s.add(job)
        s.flush()
        return job.id


def _load(factory: sessionmaker[Session], job_id: uuid.UUID) -> tuple[Job, Conversation]:
    with session_scope(factory) as s:
        job = s.get(Job, job_id)
        assert job is not None
        conv = s.get(Conversation, job.conversation_id)
        assert conv is not None
        return job, conv


class TestRecoveryOutOfAttempts:
    def test_job_and_conversation_fail_together_and_callback_once(
        self,
        factory: sessionmaker[Session],
        settings: Settings,
        receiver: tuple[str, list[dict[str, object]]],
    ) -> None:
        url, received = receiver
        job_id = _audio_job(factory, attempts=3, status=JobStatus.TRANSCRIBING, callback_url=url)

        assert lifecycle.recover(factory, settings=settings) == [(job_id, JobStatus.FAILED)]

        job, conv = _load(factory, job_id)
        assert job.status == JobStatus.FAILED
        assert job.error == "worker stopped while processing, 3 of 3 attempts used"
        assert job.finished_at is not None
        assert job.worker_id is None
        assert conv.status == ConversationStatus.FAILED
        assert conv.analysis_error == job.error
        assert job.callback_status == "delivered"
        assert len(received) == 1
        assert (received[0]["job_id"], received[0]["status"], received[0]["error"]) == (
            str(job_id),
            "failed",
            job.error,
        )

        # Recovery again (the next start-up): nothing to recover, the callback is not sent twice.
        assert lifecycle.recover(factory, settings=settings) == []
        assert len(received) == 1

    def test_attempts_left_requeues_without_callback(
        self,
        factory: sessionmaker[Session],
        settings: Settings,
        receiver: tuple[str, list[dict[str, object]]],
    ) -> None:
        url, received = receiver
        job_id = _audio_job(factory, attempts=1, status=JobStatus.TRANSCRIBING, callback_url=url)

        assert lifecycle.recover(factory, settings=settings) == [(job_id, JobStatus.QUEUED)]

        job, conv = _load(factory, job_id)
        assert (job.status, job.progress, job.worker_id, job.finished_at) == (
            JobStatus.QUEUED,
            0.0,
            None,
            None,
        )
        assert conv.status == ConversationStatus.PENDING_TRANSCRIPTION
        assert conv.analysis_error is None
        assert job.callback_status is None
        assert received == []

    def test_transcribed_job_is_audited_again_not_transcribed_again(
        self, factory: sessionmaker[Session], settings: Settings
    ) -> None:
        # `auditing`: the transcript is stored and the audit task was queued; its holder died.
        job_id = _audio_job(factory, attempts=1, status=JobStatus.AUDITING, callback_url=None)

        assert lifecycle.recover(factory, settings=settings) == [(job_id, JobStatus.AUDITING)]

        job, conv = _load(factory, job_id)
        # The next audit task is for attempt 2: a late delivery of attempt 1's is stale and does nothing.
        assert (job.status, job.attempts, job.worker_id) == (JobStatus.AUDITING, 2, None)
        assert conv.status == ConversationStatus.PENDING_TRANSCRIPTION
        # Waiting for an audit worker is not being orphaned: the next sweep leaves it alone.
        assert lifecycle.recover(factory, settings=settings) == []
        assert _load(factory, job_id)[0].attempts == 2

    def test_live_worker_elsewhere_is_left_alone(
        self, factory: sessionmaker[Session], settings: Settings
    ) -> None:
        job_id = _audio_job(factory, attempts=1, status=JobStatus.TRANSCRIBING, callback_url=None)
        with session_scope(factory) as s:
            job = s.get(Job, job_id)
            assert job is not None
            job.worker_id = "gpu-box:4242:w1"  # another host, fresh heartbeat

        assert lifecycle.recover(factory, settings=settings) == []
        assert _load(factory, job_id)[0].status == JobStatus.TRANSCRIBING

        with session_scope(factory) as s:
            job = s.get(Job, job_id)
            assert job is not None
            job.heartbeat_at = utcnow() - timedelta(seconds=settings.job_stale_seconds + 1)
        assert lifecycle.recover(factory, settings=settings) == [(job_id, JobStatus.QUEUED)]


class TestDuplicateTranscriptionDelivery:
    """A transcription message delivered again (a sweep's resend, Redis redelivering a dead worker's)."""

    ME = f"{socket.gethostname()}:{os.getpid()}:me"  # this process

    def _claim_own(
        self, factory: sessionmaker[Session], settings: Settings, *, status: JobStatus, attempts: int
    ) -> tuple[uuid.UUID, lifecycle.Claim]:
        """A job this process holds in `status`; the duplicate delivery reaches this process, idle on it."""
        job_id = _audio_job(factory, attempts=attempts, status=status, callback_url=None)
        with session_scope(factory) as s:
            job = s.get(Job, job_id)
            assert job is not None
            job.worker_id = self.ME
        with session_scope(factory) as s:
            claim = lifecycle.claim_job(
                s, job_id=job_id, worker_id=self.ME, settings=settings, running_here=False
            )
        return job_id, claim

    def test_reaching_the_worker_that_handed_it_on_resends_the_same_audit(
        self, factory: sessionmaker[Session], settings: Settings
    ) -> None:
        # This process transcribed attempt 2 and queued its audit; the duplicate arrives before the audit ran.
        job_id, claim = self._claim_own(factory, settings, status=JobStatus.AUDITING, attempts=2)
        assert claim == lifecycle.Claim("audit", attempt=2)
        job, _conv = _load(factory, job_id)
        # Not a new attempt: the audit already queued for attempt 2 still counts, nothing failed.
        assert (job.status, job.attempts, job.worker_id, job.error) == (JobStatus.AUDITING, 2, self.ME, None)

    def test_own_transcription_not_running_here_is_taken_again(
        self, factory: sessionmaker[Session], settings: Settings
    ) -> None:
        # Still transcribing in the row, but no task of this process works on it: ours crashed out of it.
        job_id, claim = self._claim_own(factory, settings, status=JobStatus.TRANSCRIBING, attempts=1)
        assert claim == lifecycle.Claim("run", attempt=2)
        assert _load(factory, job_id)[0].attempts == 2


class TestCallbackOnce:
    def test_unsent_callback_of_an_ended_job_is_sent_by_recovery(
        self,
        factory: sessionmaker[Session],
        settings: Settings,
        receiver: tuple[str, list[dict[str, object]]],
    ) -> None:
        url, received = receiver
        # The process committed `done` and was killed before it called back.
        job_id = _audio_job(factory, attempts=1, status=JobStatus.DONE, callback_url=url)

        assert lifecycle.recover(factory, settings=settings) == []
        assert [r["status"] for r in received] == ["done"]
        assert lifecycle.deliver_callback(factory, settings=settings, job_id=job_id) is None
        assert len(received) == 1
        assert _load(factory, job_id)[0].callback_status == "delivered"

    def test_fail_job_on_an_ended_job_changes_nothing(
        self,
        factory: sessionmaker[Session],
        settings: Settings,
        receiver: tuple[str, list[dict[str, object]]],
    ) -> None:
        url, received = receiver
        job_id = _audio_job(factory, attempts=3, status=JobStatus.TRANSCRIBING, callback_url=url)
        status = lifecycle.fail_job(factory, settings=settings, job_id=job_id, error="boom", retry=True)
        assert status == JobStatus.FAILED
        again = lifecycle.fail_job(factory, settings=settings, job_id=job_id, error="later", retry=False)
        assert again == JobStatus.FAILED
        job, conv = _load(factory, job_id)
        assert (job.error, conv.status, conv.analysis_error) == ("boom", ConversationStatus.FAILED, "boom")
        assert len(received) == 1


@pytest.fixture(scope="module")
def runtime() -> AuditRuntime:
    """The audit pipeline without the emotion model, loaded once for this module."""
    return AuditRuntime(
        Settings(model_dir=REPO_ROOT / "var" / "models", emotion_enabled=False, start_worker=False)
    )


PAYLOAD = ConversationCreate.model_validate(
    {
        "external_id": "chat-stranded",
        "channel": "chat",
        "agent_id": "a7",
        "started_at": "2026-11-20T09:30:00+08:00",
        "utterances": [
            {"speaker": "customer", "text": "快递三天了还没到"},
            {"speaker": "agent", "text": "不知道，你自己查"},
        ],
    }
)


def _left_received(factory: sessionmaker[Session], payload: ConversationCreate) -> uuid.UUID:
    """The row a process killed between storing and auditing leaves behind: received, text stored, no result."""
    from app.conversations.service import payload_sha256

    conv = Conversation(
        external_id=payload.external_id,
        payload_sha256=payload_sha256(payload),
        channel=payload.channel,
        agent_id=payload.agent_id,
        started_at=payload.started_at,
        status=ConversationStatus.RECEIVED,
        utterances=[
            Utterance(index=i, speaker=u.speaker, text=u.text) for i, u in enumerate(payload.utterances)
        ],
    )
    with session_scope(factory) as s:
        s.add(conv)
        s.flush()
        return conv.id


class TestStrandedConversations:
    def test_repost_audits_it_then_answers(
        self, factory: sessionmaker[Session], runtime: AuditRuntime
    ) -> None:
        conv_id = _left_received(factory, PAYLOAD)
        with session_scope(factory) as s:
            conv, created = create_conversation(s, runtime=runtime, payload=PAYLOAD)
            assert (conv.id, created, conv.status) == (conv_id, False, ConversationStatus.ANALYSED)
            assert conv.score is not None
            assert conv.score < 100  # the agent's 不知道，你自己查 costs points
            assert "不知道" in {f.term for f in conv.findings}
        with session_scope(factory) as s:
            stored = s.get(Conversation, conv_id)
            assert stored is not None
            assert (stored.status, stored.analysed_at is not None) == (ConversationStatus.ANALYSED, True)

    def test_repost_with_other_content_is_a_conflict(
        self, factory: sessionmaker[Session], runtime: AuditRuntime
    ) -> None:
        _left_received(factory, PAYLOAD)
        other = PAYLOAD.model_copy(update={"agent_id": "someone-else"})
        with session_scope(factory) as s, pytest.raises(Conflict):
            create_conversation(s, runtime=runtime, payload=other)

    def test_recovery_audits_every_one_left_received(
        self, factory: sessionmaker[Session], runtime: AuditRuntime
    ) -> None:
        ids = [
            _left_received(factory, PAYLOAD.model_copy(update={"external_id": f"chat-{n}"})) for n in range(3)
        ]
        assert lifecycle.recover_received(factory, runtime=runtime, updated_before=None) == 3
        with session_scope(factory) as s:
            rows = [s.get(Conversation, i) for i in ids]
            assert [r.status if r else None for r in rows] == [ConversationStatus.ANALYSED] * 3
        assert lifecycle.recover_received(factory, runtime=runtime, updated_before=None) == 0

    def test_recovery_skips_rows_newer_than_the_cut_off(
        self, factory: sessionmaker[Session], runtime: AuditRuntime
    ) -> None:
        conv_id = _left_received(factory, PAYLOAD)
        cut_off = utcnow() - timedelta(minutes=5)  # e.g. a live request elsewhere is auditing it right now
        assert lifecycle.recover_received(factory, runtime=runtime, updated_before=cut_off) == 0
        with session_scope(factory) as s:
            row = s.get(Conversation, conv_id)
            assert row is not None
            assert row.status == ConversationStatus.RECEIVED

    def test_failing_audit_is_recorded(
        self, factory: sessionmaker[Session], runtime: AuditRuntime, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        conv_id = _left_received(factory, PAYLOAD)

        def boom(*_args: object, **_kwargs: object) -> None:
            raise RuntimeError("model exploded")

        monkeypatch.setattr(runtime.pipeline, "run_masked", boom)
        monkeypatch.setattr(runtime.pipeline, "run_masked_many", boom)
        assert lifecycle.recover_received(factory, runtime=runtime, updated_before=None) == 1
        with session_scope(factory) as s:
            row = s.get(Conversation, conv_id)
            assert row is not None
            assert (row.status, row.analysis_error, row.score) == (
                ConversationStatus.FAILED,
                "RuntimeError: model exploded",
                None,
            )


def test_dead_worker_id_is_this_host() -> None:
    assert lifecycle.orphaned_by_dead_local_process(DEAD_WORKER)
    assert not lifecycle.orphaned_by_dead_local_process(f"{socket.gethostname()}:{os.getpid()}:me")
