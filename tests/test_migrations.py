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


def test_no_table_gives_a_deleted_rows_number_again(app):
    # compare_metadata does not look at AUTOINCREMENT: without it SQLite gives the id of a deleted newest
    # row to the next one. Every table with a number of its own as id has it, in the models and the database.
    numbered = [
        table
        for table in db.metadata.sorted_tables
        if [column.name for column in table.primary_key] == ["id"] and not table.c.id.foreign_keys
    ]
    assert {"users", "projects", "cases", "events", "robots", "deliveries"} <= {t.name for t in numbered}
    with db.engine.connect() as connection:
        for table in numbered:
            assert table.dialect_options["sqlite"]["autoincrement"], table.name
            created = connection.execute(
                sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :name"),
                {"name": table.name},
            ).scalar_one()
            assert "PRIMARY KEY AUTOINCREMENT" in created, table.name


def test_a_migrated_database_does_not_give_a_deleted_number_again(database):
    """A database of the release before: its newest case and robot deleted, their numbers kept elsewhere."""
    from flask_migrate import downgrade, upgrade

    from webapp.models import Delivery, Project, User
    from webapp.services import cases as case_service
    from webapp.services import robots as robot_service
    from webapp.services.cases import CaseInput

    downgrade(revision="a4f2dfaa9f8f-1")  # the release before numbers were kept
    project, admin = helpers.team()
    case_service.create_case(project, admin, CaseInput(title="Pay by card"))
    newest = case_service.create_case(project, admin, CaseInput(title="Pay with a saved card"))
    deleted_case = newest.id
    case_service.delete_case(newest, admin)  # its number stays in the case.deleted event
    helpers.add_robot(project, "feishu", "https://open.feishu.cn/open-apis/bot/v2/hook/first")
    robot = helpers.add_robot(project, "wecom", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k")
    deleted_robot = robot.id
    # Written with the columns that release had: the model has gained some since (Delivery.facts).
    message = {"project_id": project.id, "channel": "wecom", "target": str(robot.id), "status": "sent"}
    db.session.execute(sa.insert(Delivery.__table__).values(message))
    db.session.commit()
    robot_service.delete_robot(robot)  # its number stays in the message's target
    if db.engine.dialect.name == "postgresql":
        # As a copy of the database leaves them (pgloader, a dump restored by hand): each sequence just after
        # its table's highest row, not after the numbers given to rows deleted since.
        with db.engine.begin() as connection:
            for table in ("cases", "robots"):
                connection.execute(
                    sa.text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)"
                    )
                )
    project_id, admin_id = project.id, admin.id
    db.session.remove()

    upgrade()
    project, admin = db.session.get(Project, project_id), db.session.get(User, admin_id)
    case = case_service.create_case(project, admin, CaseInput(title="Refund to the card"))
    robot = helpers.add_robot(project, "dingtalk", "https://oapi.dingtalk.com/robot/send?access_token=t")
    assert case.id > deleted_case and robot.id > deleted_robot


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


def test_robot_messages_written_before_get_the_facts_the_planner_now_stores(database):
    from flask_migrate import downgrade, upgrade

    from webapp.models import Delivery, User
    from webapp.services import cases as case_service
    from webapp.services.cases import CaseInput

    project, admin = helpers.team()
    member = db.session.scalar(sa.select(User).where(User.email == "mei@example.com"))
    helpers.add_robot(project, "wecom", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k")
    dispatcher = database.extensions["herald.dispatcher"]
    submit, dispatcher.submit = dispatcher.submit, lambda ids: None  # left in the outbox, as by a crash
    try:
        case_service.create_case(project, admin, CaseInput(title="Pay by card", maintainer_id=member.id))
    finally:
        dispatcher.submit = submit
    [planned] = db.session.execute(sa.select(Delivery.id, Delivery.facts)).all()
    assert planned.facts["mention_mobiles"] == ["13800138000"]
    db.session.remove()

    downgrade(revision="a4f2dfaa9f8f")
    upgrade()
    assert db.session.execute(sa.select(Delivery.id, Delivery.facts)).all() == [planned]
