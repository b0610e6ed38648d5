"""System settings: users (and, later, mail settings)."""

from flask import render_template

from webapp.blueprints.system import bp
from webapp.services.users import list_users
from webapp.web import admin_required


@bp.get("/users")
@admin_required
def users():
    return render_template("system/users.html", users=list_users())
