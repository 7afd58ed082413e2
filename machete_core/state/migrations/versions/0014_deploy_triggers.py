"""Push webhooks and polling: each tool's deploy triggers, and every webhook delivery.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deploy_triggers",
        sa.Column(
            "tool_id",
            sa.Integer,
            sa.ForeignKey("tools.id", ondelete="CASCADE", name="fk_deploy_triggers_tool_id_tools"),
            primary_key=True,
        ),
        sa.Column("hook_id", sa.String(64), nullable=False),
        sa.Column("hook_enabled", sa.Boolean, nullable=False),
        sa.Column("secret_sealed", sa.Text, nullable=True),
        sa.Column("previous_sealed", sa.Text, nullable=True),
        sa.Column("previous_until", sa.Float, nullable=True),
        sa.Column("poll_seconds", sa.Integer, nullable=True),
        sa.Column("polled_at", sa.Float, nullable=True),
        sa.Column("polled_revision", sa.String(255), nullable=True),
        sa.Column("deploy_queued", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("tool_id", name="pk_deploy_triggers"),
        sa.UniqueConstraint("hook_id", name="uq_deploy_triggers_hook_id"),
    )
    op.create_table(
        "hook_deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "tool_id",
            sa.Integer,
            sa.ForeignKey("tools.id", ondelete="CASCADE", name="fk_hook_deliveries_tool_id_tools"),
            nullable=False,
        ),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("delivery_id", sa.String(100), nullable=True),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("ref", sa.String(255), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text, nullable=True),
        sa.Column("operation_id", sa.String(64), nullable=True),
        sa.Column("address", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_hook_deliveries"),
        sa.UniqueConstraint("tool_id", "delivery_id", name="uq_hook_deliveries_tool_id"),
    )
    op.create_index("ix_hook_deliveries_tool_id", "hook_deliveries", ["tool_id"])


def downgrade() -> None:
    op.drop_index("ix_hook_deliveries_tool_id", "hook_deliveries")
    op.drop_table("hook_deliveries")
    op.drop_table("deploy_triggers")
