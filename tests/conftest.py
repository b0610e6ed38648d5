"""Fixtures: an app on a migrated SQLite database, clients, users of each role, a project."""

import shutil

import pytest
from flask.testing import FlaskClient
from flask_migrate import upgrade

from webapp import create_app
from webapp.config import TestConfig
from webapp.extensions import db
from webapp.services import cases as case_service
from webapp.services import projects as project_service
from webapp.services import users as user_service
from webapp.services.cases import CaseInput

# Real servers for the tests: provider emulators (HTTP) and SMTP servers (aiosmtpd).
pytest_plugins = ["tests.emulators.fixtures", "tests.smtp_fixtures"]

PASSWORD = "correct horse battery"


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory):
    """One database upgraded to head by the real migrations; each test gets a copy of it."""
    folder = tmp_path_factory.mktemp("template")
    path = folder / "herald.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HERALD_INSTANCE_PATH", str(folder / "instance"))
        app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}")
        with app.app_context():
            upgrade()
            db.engine.dispose()
    return path


class AppClient(FlaskClient):
    """A test client whose every request runs in its own app context, as in production.

    The test itself holds an app context open; without this, requests would share its `g` (and so the
    logged-in user) and its database session. Afterwards the test's session forgets what it had loaded,
    so it sees what the request committed.
    """

    def open(self, *args, **kwargs):
        with self.application.app_context():
            response = super().open(*args, **kwargs)
        db.session.expire_all()
        return response


@pytest.fixture
def app(migrated_db, tmp_path, monkeypatch):
    monkeypatch.setenv("HERALD_INSTANCE_PATH", str(tmp_path / "instance"))
    path = tmp_path / "herald.db"
    shutil.copy(migrated_db, path)
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}")
    app.test_client_class = AppClient
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def admin(app):
    return user_service.create_user("Ada Admin", "ada@example.com", PASSWORD, role="admin")


@pytest.fixture
def member(app):
    return user_service.create_user("Mei Member", "mei@example.com", PASSWORD, mobile="13800138000")


@pytest.fixture
def outsider(app):
    return user_service.create_user("Otto Outsider", "otto@example.com", PASSWORD)


@pytest.fixture
def project(app, admin, member):
    project = project_service.create_project("Checkout", "The web shop's checkout", creator=admin)
    project_service.add_member(project, member)
    return project


@pytest.fixture
def case(project, admin, member):
    """A case of the project, made by the member, maintained by the member, followed by the admin."""
    return case_service.create_case(
        project,
        member,
        CaseInput(
            title="Pay by card",
            module="Checkout/Payment",
            priority="P1",
            steps="Open the cart\nPay",
            tags=["smoke"],
            maintainer_id=member.id,
            follower_ids=[admin.id],
        ),
    )


def login(client, user, password=PASSWORD):
    """Log a test client in through the real login form."""
    response = client.post("/login", data={"email": user.email, "password": password})
    assert response.status_code == 303, response.get_data(as_text=True)
    return client


@pytest.fixture
def admin_client(app, admin):
    return login(app.test_client(), admin)


@pytest.fixture
def member_client(app, member, project):
    return login(app.test_client(), member)


@pytest.fixture
def outsider_client(app, outsider):
    return login(app.test_client(), outsider)


HTMX = {"HX-Request": "true"}
