"""Who set each configuration value last, so a dashboard can show a secret's name, author and
time without its value.

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


def downgrade() -> None:
    with op.batch_alter_table("tool_config") as batch:
        batch.drop_column("updated_by")
