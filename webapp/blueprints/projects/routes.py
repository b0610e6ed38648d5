"""Projects, their members and their activity."""

from flask import render_template
from flask_login import current_user

from webapp.blueprints.projects import bp
from webapp.services.projects import visible_projects


@bp.get("/")
def index():
    return render_template("projects/index.html", projects=visible_projects(current_user))
