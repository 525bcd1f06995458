"""covering indexes for the per-agent, daily and per-rule reports (issue 10: reports)

Every report joins its findings, keywords or utterances to the period's conversations. Measured with
benchmarks/bench_reports.py over 100,000 conversations in PostgreSQL:
- `ix_conversations_report`: the period's conversations with the columns the reports group and count by,
  read by an index-only scan (a few MB) instead of the wide table (≈150 MB: texts, JSON, search grams).
  PostgreSQL only (INCLUDE); the embedded SQLite database is small enough without it.
- `ix_keywords_report`: the customer's keywords by conversation, index-only, instead of scanning every
  keyword row (the daily report's top and rising keywords).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 08:15:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REPORT_COLUMNS = ["id", "agent_id", "channel", "status", "review_status", "flagged", "severity", "score"]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(
            "ix_conversations_report", "conversations", ["started_at"], postgresql_include=REPORT_COLUMNS
        )
    op.create_index("ix_keywords_report", "keywords", ["speaker", "conversation_id", "term"])


def downgrade() -> None:
    op.drop_index("ix_keywords_report", table_name="keywords")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_conversations_report", table_name="conversations")
