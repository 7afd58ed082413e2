"""An index on the events' operation, so following one operation's steps (the CLI's live
progress through a server) reads its own events, not the whole table.

Revision ID: 0012
Revises: 0011
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_events_operation_id", "events", ["operation_id"])


def downgrade() -> None:
    op.drop_index("ix_events_operation_id", table_name="events")
