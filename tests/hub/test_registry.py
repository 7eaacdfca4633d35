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
        assert conn.execute(text("select version_num from alembic_version")).scalar() == "0007"
        assert conn.execute(text("pragma journal_mode")).scalar() == "wal"
    assert {"users", "api_tokens", "playgrounds", "members", "submissions", "deployments"} <= set(
        inspect(registry.engine).get_table_names()
    )
    registry.dispose()


def test_tokens_issued_before_expiry_existed_get_ninety_days(tmp_path):
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import select

    from aims_spaces.hub.migrations import upgrade
    from aims_spaces.hub.registry import ApiTokenRow

    registry = Registry(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(registry.engine, "0002")
    with registry.engine.begin() as conn:
        conn.execute(
            text(
                "insert into users (id, username, is_admin, created_at) "
                "values (1, 'old', 0, '2026-11-01 10:00:00')"
            )
        )
        conn.execute(
            text(
                "insert into api_tokens (user_id, token_hash, name, created_at) "
                "values (1, 'h', 'x', '2026-11-01 10:00:00')"
            )
        )
    registry.migrate()
    with registry.session() as s:
        token = s.scalar(select(ApiTokenRow))
        assert token.kind == "api"
        assert token.expires_at == datetime(2026, 11, 1, 10, tzinfo=UTC) + timedelta(days=90)
    registry.dispose()
