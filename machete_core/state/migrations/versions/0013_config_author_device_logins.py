"""Who set each configuration value last (so a dashboard can show a secret's name, author and
time without its value), and the device logins of ``machete login --device``.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tool_config") as batch:
        batch.add_column(sa.Column("updated_by", sa.String(255), nullable=True))
    op.create_table(
        "device_logins",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("device_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("user_code", sa.String(16), nullable=False, unique=True),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("requested_from", sa.String(64), nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column(
            "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=True
        ),
        sa.Column("last_poll_at", sa.Float, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("device_logins")
    with op.batch_alter_table("tool_config") as batch:
        batch.drop_column("updated_by")
