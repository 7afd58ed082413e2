"""Notifications: channels, the outbox written with each event, and every send attempt.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notify_channels",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("target_sealed", sa.Text, nullable=False),
        sa.Column("target_hint", sa.String(255), nullable=False),
        sa.Column("secret_sealed", sa.Text, nullable=True),
        sa.Column("events_json", sa.Text, nullable=False),
        sa.Column("tools_json", sa.Text, nullable=False),
        sa.Column(
            "tool_id",
            sa.Integer,
            sa.ForeignKey("tools.id", ondelete="CASCADE", name="fk_notify_channels_tool_id_tools"),
            nullable=True,
        ),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_notify_channels"),
        sa.UniqueConstraint("name", name="uq_notify_channels_name"),
    )
    op.create_index("ix_notify_channels_tool_id", "notify_channels", ["tool_id"])
    op.create_table(
        "notify_outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "channel_id",
            sa.Integer,
            sa.ForeignKey(
                "notify_channels.id",
                ondelete="CASCADE",
                name="fk_notify_outbox_channel_id_notify_channels",
            ),
            nullable=False,
        ),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("tool", sa.String(64), nullable=True),
        sa.Column("payload_json", sa.Text, nullable=False),
        sa.Column("dedupe_key", sa.String(200), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.Float, nullable=False),
        sa.Column("claimed_until", sa.Float, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("sent_at", sa.Float, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_notify_outbox"),
    )
    op.create_index("ix_notify_outbox_channel_id", "notify_outbox", ["channel_id"])
    op.create_index("ix_notify_outbox_dedupe_key", "notify_outbox", ["dedupe_key"])
    op.create_index("ix_notify_outbox_status", "notify_outbox", ["status"])
    op.create_table(
        "notify_attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "outbox_id",
            sa.Integer,
            sa.ForeignKey(
                "notify_outbox.id",
                ondelete="CASCADE",
                name="fk_notify_attempts_outbox_id_notify_outbox",
            ),
            nullable=False,
        ),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("seconds", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_notify_attempts"),
    )
    op.create_index("ix_notify_attempts_outbox_id", "notify_attempts", ["outbox_id"])


def downgrade() -> None:
    op.drop_index("ix_notify_attempts_outbox_id", "notify_attempts")
    op.drop_table("notify_attempts")
    op.drop_index("ix_notify_outbox_status", "notify_outbox")
    op.drop_index("ix_notify_outbox_dedupe_key", "notify_outbox")
    op.drop_index("ix_notify_outbox_channel_id", "notify_outbox")
    op.drop_table("notify_outbox")
    op.drop_index("ix_notify_channels_tool_id", "notify_channels")
    op.drop_table("notify_channels")
