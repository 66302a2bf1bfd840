"""The first release's store (events, cursors, outbox, sync cursors, audit log, write intents,
skipped records, tracking state), exactly as its unversioned ``create_all`` made it."""

import sqlalchemy as sa
from alembic import op

from engine.store.tables import SeqInt, UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("seq", SeqInt, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(255), nullable=False, unique=True),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("at", UtcDateTime, nullable=True),
        sa.Column("contact_email", sa.String(320), nullable=True),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("ingested_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_events_type_seq", "events", ["type", "seq"])
    op.create_index("ix_events_email", "events", ["contact_email"])
    op.create_table(
        "play_progress",
        sa.Column("consumer", sa.String(255), primary_key=True),
        sa.Column("cursor", SeqInt, nullable=False),
        sa.Column("events_done", SeqInt, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=True),
    )
    op.create_table(
        "outbox",
        sa.Column("id", SeqInt, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(512), nullable=False, unique=True),
        sa.Column("consumer", sa.String(255), nullable=False),
        sa.Column("crm", sa.String(32), nullable=True),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_outbox_status", "outbox", ["status", "id"])
    op.create_table(
        "sync_cursors",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("value", sa.Text, nullable=True),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", SeqInt, primary_key=True, autoincrement=True),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("run", sa.String(255), nullable=True),
        sa.Column("play", sa.String(255), nullable=True),
        sa.Column("node", sa.String(255), nullable=True),
        sa.Column("crm", sa.String(32), nullable=False),
        sa.Column("object", sa.String(64), nullable=True),
        sa.Column("record", sa.String(64), nullable=True),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("event", sa.String(255), nullable=True),
        sa.Column("op", sa.String(16), nullable=False),
        sa.Column("field", sa.String(255), nullable=False),
        sa.Column("before", sa.JSON, nullable=True),
        sa.Column("after", sa.JSON, nullable=True),
    )
    op.create_index("ix_audit_record", "audit_log", ["crm", "record"])
    op.create_index("ix_audit_at", "audit_log", ["at"])
    op.create_table(
        "write_intents",
        sa.Column("id", SeqInt, primary_key=True, autoincrement=True),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("consumer", sa.String(255), nullable=False),
        sa.Column("crm", sa.String(32), nullable=False),
        sa.Column("object", sa.String(64), nullable=True),
        sa.Column("record", sa.String(64), nullable=True),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("op", sa.String(16), nullable=False),
        sa.Column("field", sa.String(255), nullable=False),
        sa.Column("before", sa.JSON, nullable=True),
        sa.Column("after", sa.JSON, nullable=True),
        sa.Column("play", sa.String(255), nullable=True),
        sa.Column("node", sa.String(255), nullable=True),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_write_intents_consumer", "write_intents", ["consumer", "id"])
    op.create_table(
        "skipped_records",
        sa.Column("id", SeqInt, primary_key=True, autoincrement=True),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("run", sa.String(255), nullable=True),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("crm", sa.String(32), nullable=True),
        sa.Column("object", sa.String(64), nullable=True),
        sa.Column("record", sa.String(64), nullable=True),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("event", sa.String(255), nullable=True),
        sa.Column("play", sa.String(255), nullable=True),
        sa.Column("node", sa.String(255), nullable=True),
        sa.Column("field", sa.String(255), nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
    )
    op.create_index("ix_skipped_at", "skipped_records", ["at"])
    op.create_table(
        "tracking_state",
        sa.Column("email", sa.String(320), primary_key=True),
        sa.Column("state", sa.JSON, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    for name in ("tracking_state", "skipped_records", "write_intents", "audit_log", "sync_cursors", "outbox",
                 "play_progress", "events"):
        op.drop_table(name)
