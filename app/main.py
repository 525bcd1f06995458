"""The FastAPI application: lifespan loads models once, routers are thin."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.access_log.router import router as access_log_router
from app.admin.router import router as admin_router
from app.alerts.router import router as alerts_router
from app.alerts.service import start as start_alerts
from app.appeals.router import router as appeals_router
from app.audio.service import encrypt_existing, verify_master_key
from app.conversations.router import router as conversations_router
from app.db.session import make_engine, make_session_factory
from app.errors import install_error_handlers
from app.health.router import router as health_router
from app.http import install_middleware
from app.jobs.router import router as jobs_router
from app.jobs.runner import JobRunner
from app.metrics.http import MetricsMiddleware
from app.metrics.router import router as metrics_router
from app.reports.router import router as reports_router
from app.reviews.router import router as reviews_router
from app.rules.router import router as rules_router
from app.rules.sync import follow_stored_rules
from app.runtime import AuditRuntime
from app.schemas_common import configure_timezone
from app.settings import Settings, get_settings
from app.users.router import router as users_router
from app.web.router import router as web_router
from app.webhooks.secret import ensure_callback_secret

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; nothing heavy happens until the lifespan starts."""
    settings = settings or get_settings()
    configure_timezone(settings.timezone)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        ensure_callback_secret(settings)  # production refuses a weak secret before anything loads
        engine = make_engine(settings.database_url, sqlite_busy_timeout=settings.sqlite_busy_timeout_seconds)
        app.state.settings = settings
        app.state.engine = engine
        app.state.session_factory = make_session_factory(engine)
        verify_master_key(app.state.session_factory, settings)  # a missing or wrong key stops the start-up
        # Recordings stored before encryption existed are encrypted now, before any worker reads them.
        if legacy := encrypt_existing(settings).rewrapped:
            log.warning("encrypted %d recordings stored before encryption at rest", legacy)
        app.state.runtime = AuditRuntime(settings)
        follow_stored_rules(app.state.runtime, app.state.session_factory)  # the active stored rules version
        # A broken alerts.yaml or target list stops the start-up here; the dispatcher then sends alerts.
        app.state.alerts = start_alerts(settings, engine=engine, factory=app.state.session_factory)
        runner = JobRunner(factory=app.state.session_factory, runtime=app.state.runtime)
        app.state.job_runner = runner
        if settings.broker_url:
            # An API-only node: jobs run in `audit worker` processes (no Whisper here); it only sweeps.
            runner.start_sweeper()
            runner.start_recovery()
        elif settings.start_worker:
            runner.start()  # recovery of jobs and of conversations left `received` first, in the background
        else:
            runner.start_recovery()  # jobs are for the workers; audits this service stored are its own
        log.info("audit service ready: lexicons %s", app.state.runtime.lexicon_version)
        try:
            yield
        finally:
            runner.stop()
            app.state.alerts.stop()
            engine.dispose()

    app = FastAPI(
        title="Conversation audit (客服智能质检)",
        version="0.1.0",
        description="Audits customer-service calls and chats: sensitive words, keywords, emotion, service norms, score.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    install_middleware(app, settings)
    app.add_middleware(MetricsMiddleware)  # outermost: counts every answer, refusals included
    app.include_router(health_router)
    app.include_router(conversations_router)
    app.include_router(reviews_router)
    app.include_router(appeals_router)
    app.include_router(rules_router)
    app.include_router(jobs_router)
    app.include_router(admin_router)
    app.include_router(access_log_router)
    app.include_router(alerts_router)
    app.include_router(reports_router)
    app.include_router(users_router)
    app.include_router(web_router)
    app.include_router(metrics_router)
    return app
