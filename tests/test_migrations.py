"""The migrations build exactly the schema the models describe."""

import json

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from webapp.extensions import db


def test_upgrading_an_empty_database_gives_the_models_schema(app):
    # The app fixture's database was built by `flask db upgrade` from nothing (see conftest.migrated_db).
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_downgrade_to_base_and_back(app):
    from flask_migrate import downgrade, upgrade

    downgrade(revision="base")
    with db.engine.connect() as connection:
        assert db.inspect(connection).get_table_names() == ["alembic_version"]
    upgrade()
    with db.engine.connect() as connection:
        assert {"users", "projects", "cases", "events"} <= set(db.inspect(connection).get_table_names())


def test_pacing_keeps_the_last_minute_of_sends_across_the_change_to_milliseconds(app):
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import text

    def sends() -> list:
        with db.engine.connect() as connection:
            return json.loads(connection.execute(text("SELECT sends FROM robot_pacing")).scalar_one())

    downgrade(revision="c4690774b4ef")
    with db.engine.begin() as connection:
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")  # a pacing row alone, without its robot
        connection.execute(
            text("INSERT INTO robot_pacing (robot_id, sends, updated_at) VALUES (7, :sends, '2026-11-28')"),
            {"sends": json.dumps([[1764370000.1234, 12], [1764370001.5, 13, 0]])},
        )
    upgrade()
    assert sends() == [[1764370000123, 12], [1764370001500, 13, 0]]
    downgrade(revision="c4690774b4ef")
    assert sends() == [[1764370000.123, 12], [1764370001.5, 13, 0]]
    upgrade()
