"""audio redactions: silenced spans of a recording and the kept unredacted original

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 06:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("audio_redactions", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("audio_original_path", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("audio_original_path")
        batch_op.drop_column("audio_redactions")
