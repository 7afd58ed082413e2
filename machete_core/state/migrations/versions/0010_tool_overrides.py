"""What an operator set for a tool (port, health path, folder, Dockerfile, stage, build
arguments), applied on every deploy over the manifest and the Dockerfile.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tools") as batch:
        batch.add_column(
            sa.Column("overrides_json", sa.Text(), nullable=False, server_default="{}")
        )


def downgrade() -> None:
    with op.batch_alter_table("tools") as batch:
        batch.drop_column("overrides_json")
