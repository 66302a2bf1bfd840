"""The ledger of CRM API calls (D-RUN-5): one new table, nothing else changes."""

import sqlalchemy as sa
from alembic import op

from engine.store.tables import SeqInt, UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_calls",
        sa.Column("id", SeqInt, primary_key=True, autoincrement=True),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("run", sa.String(255), nullable=True),
        sa.Column("consumer", sa.String(255), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("crm", sa.String(32), nullable=False),
        sa.Column("calls", sa.Integer, nullable=False),
        sa.Column("kinds", sa.JSON, nullable=False),
        sa.Column("events", sa.Integer, nullable=False),
        sa.Column("written", sa.Integer, nullable=False),
        sa.Column("stopped", sa.String(64), nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
        sa.Column("api_day_used", sa.BigInteger, nullable=True),
        sa.Column("api_day_max", sa.BigInteger, nullable=True),
        sa.Column("api_budget", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_api_calls_at", "api_calls", ["at"])
    op.create_index("ix_api_calls_crm_id", "api_calls", ["crm", "id"])


def downgrade() -> None:
    op.drop_table("api_calls")
