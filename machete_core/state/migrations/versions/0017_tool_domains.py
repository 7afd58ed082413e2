"""Custom domains: host names an ingress routes whole to one tool.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tool_domains",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(253), nullable=False),
        sa.Column(
            "tool_id",
            sa.Integer,
            sa.ForeignKey("tools.id", ondelete="CASCADE", name="fk_tool_domains_tool_id_tools"),
            nullable=False,
        ),
        sa.Column("tls", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tool_domains"),
        sa.UniqueConstraint("name", name="uq_tool_domains_name"),
    )
    op.create_index("ix_tool_domains_tool_id", "tool_domains", ["tool_id"])


def downgrade() -> None:
    op.drop_index("ix_tool_domains_tool_id", "tool_domains")
    op.drop_table("tool_domains")
