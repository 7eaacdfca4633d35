"""The registry's schema comes from the migrations, and they match the models."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from aims_spaces.hub.registry import Base, Registry


def test_migrations_build_exactly_the_models_schema(tmp_path):
    registry = Registry(f"sqlite:///{tmp_path / 'r.db'}")
    registry.migrate()
    registry.migrate()  # idempotent: a restart runs it again
    with registry.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == [], f"models and migrations disagree; add a revision: {diff}"
        assert conn.execute(text("select version_num from alembic_version")).scalar() == "0002"
        assert conn.execute(text("pragma journal_mode")).scalar() == "wal"
    assert {"users", "api_tokens", "playgrounds", "members", "submissions", "deployments"} <= set(
        inspect(registry.engine).get_table_names()
    )
    registry.dispose()
