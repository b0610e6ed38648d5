"""The migrations build exactly the schema the models describe."""

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from tests.notifications import helpers
from webapp.extensions import db

database = helpers.database  # the test's app on SQLite, then on PostgreSQL


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


def test_pacing_keeps_the_last_minute_of_sends_across_the_change_to_milliseconds(database):
    from flask_migrate import downgrade, upgrade

    project, _ = helpers.team()
    robot = helpers.add_robot(project, "feishu", "https://open.feishu.cn/open-apis/bot/v2/hook/t0ken")
    robot_id = robot.id
    db.session.commit()
    db.session.remove()
    pacing = sa.table(
        "robot_pacing", sa.column("robot_id"), sa.column("sends", sa.JSON), sa.column("updated_at")
    )

    def sends() -> list:
        with db.engine.connect() as connection:
            return connection.execute(sa.select(pacing.c.sends)).scalar_one()

    downgrade(revision="c4690774b4ef")
    with db.engine.begin() as connection:  # as the last release wrote them: epoch seconds
        sent = [[1764370000.1234, 12], [1764370001.5, 13, 0]]
        connection.execute(pacing.insert().values(robot_id=robot_id, sends=sent, updated_at="2026-11-28"))
    upgrade()
    assert sends() == [[1764370000123, 12], [1764370001500, 13, 0]]
    downgrade(revision="c4690774b4ef")
    assert sends() == [[1764370000.123, 12], [1764370001.5, 13, 0]]
    upgrade()
