"""Every operation and event names its actor (kind, id, display name) instead of a free
``trigger`` string. Old operations become ``local`` (CLI, Python) or ``system`` (the API).

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_LOCAL = {"cli": "machete CLI", "python": "Python API"}


def _actor_columns() -> list[sa.Column[str]]:
    return [
        sa.Column("actor_kind", sa.String(16), nullable=False, server_default="system"),
        sa.Column("actor_id", sa.String(128), nullable=False, server_default="machete"),
        sa.Column("actor_name", sa.String(255), nullable=False, server_default="MACHETE"),
    ]


def upgrade() -> None:
    with op.batch_alter_table("operations") as batch:
        for column in _actor_columns():
            batch.add_column(column)
    ops = sa.table(
        "operations",
        sa.column("trigger", sa.String),
        sa.column("actor_kind", sa.String),
        sa.column("actor_id", sa.String),
        sa.column("actor_name", sa.String),
    )
    for trigger, name in _LOCAL.items():
        op.execute(
            ops.update()
            .where(ops.c.trigger == trigger)
            .values(actor_kind="local", actor_id=trigger, actor_name=name)
        )
    op.execute(
        ops.update()
        .where(ops.c.trigger.not_in(tuple(_LOCAL)))
        .values(actor_kind="system", actor_id="api", actor_name="HTTP API")
    )
    with op.batch_alter_table("operations") as batch:
        batch.drop_column("trigger")
    with op.batch_alter_table("events") as batch:
        for column in _actor_columns():
            batch.add_column(column)


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        for name in ("actor_kind", "actor_id", "actor_name"):
            batch.drop_column(name)
    with op.batch_alter_table("operations") as batch:
        batch.add_column(sa.Column("trigger", sa.String(64), nullable=True))
    op.execute("UPDATE operations SET trigger = actor_id")
    with op.batch_alter_table("operations") as batch:
        for name in ("actor_kind", "actor_id", "actor_name"):
            batch.drop_column(name)
