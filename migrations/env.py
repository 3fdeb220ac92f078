import asyncio

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_engine_from_config

from core import rate_limit
from core.db import Base
from core.events import models as event_models
from core.tenancy import models as tenancy_models
from dispatch import handoff_models
from dispatch import models as dispatch_models
from dispatch.checkins import models as checkin_models
from dispatch.wander import models as wander_models
from geo import models as geo_models
from notifications import line_models
from notifications import models as notification_models

# Autogenerate sees only the tables whose modules are imported: all of them.
MODEL_MODULES = (
    event_models,
    tenancy_models,
    rate_limit,
    geo_models,
    dispatch_models,
    wander_models,
    checkin_models,
    handoff_models,
    notification_models,
    line_models,
)

config = context.config
target_metadata = Base.metadata


def include_object(obj, name, type_, reflected, compare_to):
    # PostGIS's own tables (spatial_ref_sys, tiger, topology) are not ours.
    return not (type_ == "table" and reflected and compare_to is None)


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection, target_metadata=target_metadata, include_object=include_object
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    connectable = async_engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    async with connectable.connect() as connection:
        await connection.run_sync(do_run_migrations)
    await connectable.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_async_migrations())
