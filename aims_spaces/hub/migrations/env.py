"""Alembic environment: runs against the engine the registry hands over, or a configured URL."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine

from aims_spaces.hub.registry import Base  # alembic loads this file by path, not as a module

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    if engine is None:
        url = config.get_main_option("sqlalchemy.url") or os.environ.get("AIMS_DATABASE_URL")
        if not url:
            raise SystemExit("set sqlalchemy.url or AIMS_DATABASE_URL")
        engine = create_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
