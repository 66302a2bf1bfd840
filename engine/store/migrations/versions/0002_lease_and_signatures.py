"""The one-writer lease with its fencing token (D-RUN-4) and the ingest replay check kept in the
store (D-OPS-1): two new tables, nothing else changes."""

import sqlalchemy as sa
from alembic import op

from engine.store.tables import SeqInt, UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _missing(name: str) -> bool:  # a development build may have made it already
    conn = op.get_bind()
    schema = conn.get_execution_options().get("schema_translate_map", {}).get(None)
    return not sa.inspect(conn).has_table(name, schema=schema)


def upgrade() -> None:
    if not _missing("leases"):
        return
    op.create_table(
        "leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(255), nullable=True),
        sa.Column("token", SeqInt, nullable=False),
        sa.Column("expires_at", UtcDateTime, nullable=False),
        sa.Column("acquired_at", UtcDateTime, nullable=True),
    )
    op.create_table(
        "ingest_signatures",
        sa.Column("signature", sa.String(128), primary_key=True),
        sa.Column("at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_ingest_signatures_at", "ingest_signatures", ["at"])


def downgrade() -> None:
    op.drop_table("ingest_signatures")
    op.drop_table("leases")
