"""Command-line tasks: `flask create-admin`, `flask notifications deliver`."""

import os

import click
from flask.cli import AppGroup, with_appcontext

from webapp.services import ServiceError
from webapp.services.users import ensure_first_admin


@click.command("create-admin")
@click.option("--email", default=lambda: os.environ.get("HERALD_ADMIN_EMAIL", "admin@example.com"))
@with_appcontext
def create_admin(email: str) -> None:
    """Create the first administrator when there is no user yet (password from HERALD_ADMIN_PASSWORD)."""
    try:
        created = ensure_first_admin(email, os.environ.get("HERALD_ADMIN_PASSWORD"))
    except ServiceError as error:
        raise click.UsageError(str(error.message)) from error
    if created is None:
        click.echo("Users exist already; no administrator created.")
        return
    user, generated = created
    click.echo(f"Created the administrator {user.email}.")
    if generated:
        click.echo(f"Its password, shown only this once: {generated}")


notifications = AppGroup("notifications", help="Deliver notifications.")


@notifications.command("deliver")
def deliver_due() -> None:
    """Deliver due retries and messages left behind by a crash (for cron, e.g. every minute)."""
    from flask import current_app

    dispatcher = current_app.extensions["herald.dispatcher"]
    dispatcher.mode = "inline"
    count = dispatcher.sweep()
    click.echo(f"Tried {count} due message(s)." if count else "Nothing is due.")
