"""conversation-level dissatisfaction (issue 11)

`dissatisfaction`: the probability (0–1) that the customer leaves dissatisfied, from the whole conversation
(models/dissatisfaction); `dissatisfaction_turns`: the customer turns that drive it ([{index, weight}]).
`ix_conversations_dissatisfaction`: the supervisor queue's `sort=dissatisfaction` order and the
`dissatisfaction_min=` filter walk it instead of sorting every matching row.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("dissatisfaction", sa.Float(), nullable=True))
        batch.add_column(sa.Column("dissatisfaction_turns", sa.JSON(), nullable=True))
    op.create_index(
        "ix_conversations_dissatisfaction", "conversations", ["dissatisfaction", "started_at", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_conversations_dissatisfaction", table_name="conversations")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("dissatisfaction_turns")
        batch.drop_column("dissatisfaction")
