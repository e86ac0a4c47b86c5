"""Integration clients: a clinic system's own credentials (client credentials grant), the
client assertions already used (replay refusal), and who acted on an alert when a client did.

Existing alerts and webhook endpoints keep their staff actor; the new columns start empty.
An endpoint registered by a client has no staff creator, so created_by becomes nullable.

Revision ID: 20261201_0010
Revises: 20261201_0009

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.core.models

revision: str = "20261201_0010"
down_revision: str | None = "20261201_0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_ALERT_ACTORS = ("acknowledged_by_client_id", "resolved_by_client_id")
_ENDPOINT_CLIENT_FK = "fk_webhook_endpoints_created_by_client_id_integration_clients"


def upgrade() -> None:
    op.create_table(
        "integration_clients",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("scopes", _JSON, nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=True),
        sa.Column("jwks", _JSON, nullable=True),
        sa.Column("created_at", app.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("revoked_at", app.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_integration_clients_clinic_id_clinics")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["staff_users.id"],
            name=op.f("fk_integration_clients_created_by_staff_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integration_clients")),
    )
    with op.batch_alter_table("integration_clients", schema=None) as batch_op:
        batch_op.create_index(
            "ix_integration_clients_clinic_created", ["clinic_id", "created_at"], unique=False
        )
    op.create_table(
        "used_client_assertions",
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("jti", sa.String(length=255), nullable=False),
        sa.Column("expires_at", app.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["integration_clients.id"],
            name=op.f("fk_used_client_assertions_client_id_integration_clients"),
        ),
        sa.PrimaryKeyConstraint("client_id", "jti", name=op.f("pk_used_client_assertions")),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        for column in _ALERT_ACTORS:
            batch_op.add_column(sa.Column(column, sa.Uuid(), nullable=True))
            batch_op.create_foreign_key(
                op.f(f"fk_alerts_{column}_integration_clients"),
                "integration_clients",
                [column],
                ["id"],
            )
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.alter_column("created_by", existing_type=sa.Uuid(), nullable=True)
        batch_op.add_column(sa.Column("created_by_client_id", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            op.f(_ENDPOINT_CLIENT_FK), "integration_clients", ["created_by_client_id"], ["id"]
        )


def downgrade() -> None:
    # Endpoints a client registered have no staff creator: they cannot go back.
    op.execute("DELETE FROM webhook_endpoints WHERE created_by IS NULL")
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.drop_constraint(op.f(_ENDPOINT_CLIENT_FK), type_="foreignkey")
        batch_op.drop_column("created_by_client_id")
        batch_op.alter_column("created_by", existing_type=sa.Uuid(), nullable=False)
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        for column in _ALERT_ACTORS:
            batch_op.drop_constraint(
                op.f(f"fk_alerts_{column}_integration_clients"), type_="foreignkey"
            )
            batch_op.drop_column(column)
    op.drop_table("used_client_assertions")
    with op.batch_alter_table("integration_clients", schema=None) as batch_op:
        batch_op.drop_index("ix_integration_clients_clinic_created")
    op.drop_table("integration_clients")
