"""Per-tool configuration (secrets sealed), its version, and reusable images per release.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tool_config",
        sa.Column("tool_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("secret", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tool_id"], ["tools.id"], name=op.f("fk_tool_config_tool_id_tools"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tool_id", "key", name=op.f("pk_tool_config")),
    )
    with op.batch_alter_table("tools") as batch:
        batch.add_column(sa.Column("config_version", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("releases") as batch:
        batch.add_column(sa.Column("image_key", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("releases") as batch:
        batch.drop_column("image_key")
    with op.batch_alter_table("tools") as batch:
        batch.drop_column("config_version")
    op.drop_table("tool_config")
