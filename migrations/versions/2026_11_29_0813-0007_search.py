"""search at scale: full-text and indexes (issue 12: search)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 08:13:00

On PostgreSQL the indexes are built CONCURRENTLY and the full-text column is backfilled in batches, each
committed on its own (alembic's `autocommit_block`), so that upgrading a live database of millions of
conversations never blocks writers for the minutes a build takes. Every step is idempotent (IF NOT EXISTS,
an invalid index left by an interrupted build is dropped first, the backfill only fills NULLs), so an
interrupted upgrade is simply run again. Rows written by the old code while it runs keep NULL grams, which
the search treats as "not indexed, check the text": nothing is missed. SQLite gets the column and the
ordering indexes only; it searches the text itself.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 5000
_MAX_GRAMS = 60_000  # app.conversations.search_text.MAX_GRAMS, copied: a migration stays static

# (name, table, columns) built on both backends
_BTREE = [
    ("ix_conversations_order", "conversations", ["severity", "started_at", "id"]),
    ("ix_conversations_agent_order", "conversations", ["agent_id", "severity", "started_at", "id"]),
]
# Recordings not yet purged, oldest first: what retention (app.retention) walks in batches.
_AUDIO_WHERE = "audio_path IS NOT NULL AND audio_deleted_at IS NULL"
_AUDIO_RETENTION = f"ON conversations (created_at) WHERE {_AUDIO_WHERE}"
_PG_ONLY = {
    # one GIN index per severity level: search fills pages level by level (app.conversations.search)
    **{
        f"ix_conversations_search_grams_{level}": f"ON conversations USING gin (search_grams) WHERE severity = {level}"
        for level in range(4)
    },
    "ix_conversations_unindexed_text": "ON conversations (id) WHERE search_grams IS NULL",
    "ix_conversations_queue": "ON conversations (flagged, review_status, severity, started_at, id)",
    "ix_conversations_order": "ON conversations (severity, started_at, id)",
    # an agent's conversations in page order (the auditor's agent filter, an agent key's own view)
    "ix_conversations_agent_order": "ON conversations (agent_id, severity, started_at, id)",
    "ix_conversations_audio_retention": _AUDIO_RETENTION,
    # keyword search: the conversations of a term, read from the index alone
    "ix_keywords_term_conversation": "ON keywords (term, conversation_id)",
    # the emotion filter: does this conversation have an utterance with that emotion (speaker, confidence)
    "ix_utterances_conversation_emotion": (
        "ON utterances (conversation_id, emotion, speaker, emotion_confidence)"
    ),
}

# The grams of app.conversations.search_text.grams, in SQL: substr(text, i, 2) for i in 1..length (the last
# i gives the last character alone) and substr(text, i, 3) for i in 1..length-2; NULL when a conversation has
# more than _MAX_GRAMS of them.
_BACKFILL = f"""
UPDATE conversations c SET search_grams = g.grams, search_text = g.text
FROM (
    SELECT b.id,
           (SELECT coalesce(string_agg(u.text, E'\\x1f' ORDER BY u.index), '')
            FROM utterances u WHERE u.conversation_id = b.id) AS text,
           CASE WHEN count(DISTINCT x.gram) > {_MAX_GRAMS} THEN NULL
                ELSE coalesce(array_to_tsvector(array_agg(DISTINCT x.gram)
                                                FILTER (WHERE x.gram IS NOT NULL)), ''::tsvector)
           END AS grams
    FROM (SELECT id FROM conversations WHERE search_grams IS NULL AND id > :after
          ORDER BY id LIMIT {_BATCH}) b
    LEFT JOIN LATERAL (
        SELECT substr(u.text, i, 2) AS gram
        FROM utterances u, generate_series(1, char_length(u.text)) i
        WHERE u.conversation_id = b.id
        UNION ALL
        SELECT substr(u.text, i, 3)
        FROM utterances u, generate_series(1, char_length(u.text) - 2) i
        WHERE u.conversation_id = b.id
    ) x ON true
    GROUP BY b.id
) g
WHERE c.id = g.id
RETURNING c.id
"""


def _upgrade_postgresql() -> None:
    bind = op.get_bind()
    op.execute("ALTER TABLE conversations ADD COLUMN IF NOT EXISTS search_grams tsvector")
    op.execute("ALTER TABLE conversations ADD COLUMN IF NOT EXISTS search_text text")
    with op.get_context().autocommit_block():
        for name, definition in _PG_ONLY.items():
            valid = bind.execute(
                sa.text(
                    "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                    "WHERE c.relname = :name"
                ),
                {"name": name},
            ).scalar()
            if valid is False:  # left by an interrupted CONCURRENTLY build
                op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
            if name == "ix_conversations_queue" and valid is not None:
                # the old definition (without id) has the same name: replace it
                cols = bind.execute(
                    sa.text("SELECT pg_get_indexdef(to_regclass(:name))"), {"name": name}
                ).scalar()
                if cols is not None and "started_at, id)" not in cols:
                    op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
            op.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} {definition}")
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_conversations_agent_id")
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_keywords_term")  # the composite one covers it
        after = "00000000-0000-0000-0000-000000000000"
        while True:
            ids = bind.execute(sa.text(_BACKFILL), {"after": after}).scalars().all()
            if not ids:
                break
            after = str(max(ids))
        op.execute("ANALYZE conversations")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgresql()
        return
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("search_grams", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("search_text", sa.Text(), nullable=True))
        batch_op.drop_index("ix_conversations_queue")
        batch_op.create_index(
            "ix_conversations_queue", ["flagged", "review_status", "severity", "started_at", "id"]
        )
        batch_op.drop_index("ix_conversations_agent_id")
        for name, _table, cols in _BTREE:
            batch_op.create_index(name, cols)
        batch_op.create_index(
            "ix_conversations_audio_retention", ["created_at"], sqlite_where=sa.text(_AUDIO_WHERE)
        )
    with op.batch_alter_table("keywords", schema=None) as batch_op:
        batch_op.drop_index("ix_keywords_term")
        batch_op.create_index("ix_keywords_term_conversation", ["term", "conversation_id"])
    with op.batch_alter_table("utterances", schema=None) as batch_op:
        batch_op.create_index(
            "ix_utterances_conversation_emotion",
            ["conversation_id", "emotion", "speaker", "emotion_confidence"],
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            for name in _PG_ONLY:
                op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
            op.execute(
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_conversations_queue "
                "ON conversations (flagged, review_status, severity, started_at)"
            )
            op.execute(
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_conversations_agent_id ON conversations (agent_id)"
            )
            op.execute("CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_keywords_term ON keywords (term)")
        op.execute("ALTER TABLE conversations DROP COLUMN IF EXISTS search_grams")
        op.execute("ALTER TABLE conversations DROP COLUMN IF EXISTS search_text")
        return
    with op.batch_alter_table("utterances", schema=None) as batch_op:
        batch_op.drop_index("ix_utterances_conversation_emotion")
    with op.batch_alter_table("keywords", schema=None) as batch_op:
        batch_op.drop_index("ix_keywords_term_conversation")
        batch_op.create_index("ix_keywords_term", ["term"])
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_conversations_audio_retention")
        for name, _table, _cols in _BTREE:
            batch_op.drop_index(name)
        batch_op.create_index("ix_conversations_agent_id", ["agent_id"])
        batch_op.drop_index("ix_conversations_queue")
        batch_op.create_index(
            "ix_conversations_queue", ["flagged", "review_status", "severity", "started_at"]
        )
        batch_op.drop_column("search_grams")
        batch_op.drop_column("search_text")
