"""finding ids exposed, appeals, rule versions, agent-bound keys (issue 10: appeals and rule tuning)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 08:11:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rules_version", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("overturned_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("agent_id", sa.String(length=100), nullable=True))
    op.create_table(
        "appeals",
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("finding_id", sa.Uuid(), nullable=True),
        sa.Column("agent_id", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("finding_snapshot", sa.JSON(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_appeals_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["finding_id"], ["findings.id"], name=op.f("fk_appeals_finding_id_findings"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appeals")),
    )
    with op.batch_alter_table("appeals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_appeals_conversation_id"), ["conversation_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_appeals_finding_id"), ["finding_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_appeals_agent_id"), ["agent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_appeals_created_at"), ["created_at"], unique=False)
        batch_op.create_index("ix_appeals_status_created_at", ["status", "created_at"], unique=False)
        batch_op.create_index(
            "uq_appeals_open_finding",
            ["finding_id"],
            unique=True,
            sqlite_where=sa.text("status = 'open'"),
            postgresql_where=sa.text("status = 'open'"),
        )
    op.create_table(
        "rule_versions",
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("yaml_text", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_versions")),
        sa.UniqueConstraint("version", name=op.f("uq_rule_versions_version")),
    )
    with op.batch_alter_table("rule_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rule_versions_active"), ["active"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("rule_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rule_versions_active"))
    op.drop_table("rule_versions")
    with op.batch_alter_table("appeals", schema=None) as batch_op:
        batch_op.drop_index("uq_appeals_open_finding")
        batch_op.drop_index("ix_appeals_status_created_at")
        batch_op.drop_index(batch_op.f("ix_appeals_created_at"))
        batch_op.drop_index(batch_op.f("ix_appeals_agent_id"))
        batch_op.drop_index(batch_op.f("ix_appeals_finding_id"))
        batch_op.drop_index(batch_op.f("ix_appeals_conversation_id"))
    op.drop_table("appeals")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("agent_id")
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.drop_column("overturned_at")
        batch_op.drop_column("rules_version")
