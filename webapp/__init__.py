"""Herald: tells a software team, reliably, when its test cases change."""

import os
from pathlib import Path

from flask import Flask, current_app, has_request_context, render_template, request
from flask_babel import get_locale
from flask_login import current_user
from sqlalchemy import event as sa_event
from werkzeug.middleware.proxy_fix import ProxyFix

from webapp.config import Config, engine_options
from webapp.extensions import babel, csrf, db, login_manager, mail, migrate

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def create_app(config: type[Config] | None = None, **overrides) -> Flask:
    """Build the application: configuration, extensions, blueprints, error pages, commands."""
    app = Flask(__name__, instance_path=os.environ.get("HERALD_INSTANCE_PATH"))
    app.config.from_object((config or Config)(Path(app.instance_path)))
    app.config.update(overrides)
    if app.config["PROXY_COUNT"]:
        hops = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(
        app.config["SQLALCHEMY_DATABASE_URI"], app.config["SQLALCHEMY_ENGINE_OPTIONS"]
    )
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_template_helpers(app)
    register_commands(app)
    register_notifications(app)
    return app


def select_locale() -> str | None:
    """The user's chosen language, else the browser's best match."""
    if not has_request_context():  # background delivery, CLI: the default language
        return None
    languages = list(current_app.config["LANGUAGES"])
    if current_user.is_authenticated and current_user.locale in languages:
        return current_user.locale
    return request.accept_languages.best_match(languages)


def register_extensions(app: Flask) -> None:
    from webapp import models  # noqa: F401  (the models must be known before Alembic compares)

    db.init_app(app)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        with app.app_context():
            sa_event.listen(db.engine, "connect", sqlite_pragmas)
    migrate.init_app(app, db, directory=str(MIGRATIONS), render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    mail.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None

    @login_manager.user_loader
    def load_user(session_id: str):
        # "<id>:<token>" of a login still open on the server (User.get_id); anything else is logged out.
        from webapp.services.sessions import user_for

        return user_for(session_id)


def sqlite_pragmas(connection, _record) -> None:
    """SQLite in write-ahead-log mode: readers never wait for a writer (a request for the delivery workers,
    the workers for a request), and a commit appends to the log instead of syncing the database file twice.
    With synchronous=NORMAL a commit survives a crash of Herald; a power cut may lose the last few, the
    outbox rows together with the change that made them."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def register_blueprints(app: Flask) -> None:
    from webapp.blueprints.auth import bp as auth_bp
    from webapp.blueprints.cases import bp as cases_bp
    from webapp.blueprints.deliveries import bp as deliveries_bp
    from webapp.blueprints.messages import bp as messages_bp
    from webapp.blueprints.projects import bp as projects_bp
    from webapp.blueprints.robots import bp as robots_bp
    from webapp.blueprints.system import bp as system_bp
    from webapp.ids import BoundedIntConverter

    app.url_map.converters["int"] = BoundedIntConverter  # before any route is added
    for bp in (auth_bp, system_bp, projects_bp, cases_bp, messages_bp, robots_bp, deliveries_bp):
        app.register_blueprint(bp)


def register_errorhandlers(app: Flask) -> None:
    def render_error(error):
        code = getattr(error, "code", 500)
        if code == 500:
            db.session.rollback()
        return render_template(f"errors/{code}.html"), code

    for code in (403, 404, 500):
        app.register_error_handler(code, render_error)


def register_template_helpers(app: Flask) -> None:
    from webapp import web
    from webapp.notifications.labels import EVENT_LABELS, FIELD_LABELS
    from webapp.services.users import is_administrator

    app.jinja_env.globals.update(
        is_htmx=web.is_htmx,
        get_locale=get_locale,
        field_labels=FIELD_LABELS,
        event_labels=EVENT_LABELS,
        is_administrator=is_administrator,
    )
    app.jinja_env.filters["localtime"] = web.format_time
    app.before_request(web.require_login)
    app.after_request(web.add_vary_header)
    app.after_request(web.add_security_headers)


def register_notifications(app: Flask) -> None:
    from webapp.notifications import outbox, sending
    from webapp.notifications.dispatch import Dispatcher
    from webapp.services.network import outbound_guard, proxies_for, proxy_settings
    from webapp.services.settings import smtp_settings

    # Settings are handed down to delivery, which never looks them up in the services above it.
    readers = sending.Readers(
        smtp=smtp_settings, proxy=proxy_settings, proxies_for=proxies_for, guard=outbound_guard
    )
    sending.install(app, readers)
    Dispatcher(app)
    outbox.listen()


def register_commands(app: Flask) -> None:
    from webapp.commands import create_admin, notifications

    app.cli.add_command(create_admin)
    app.cli.add_command(notifications)
