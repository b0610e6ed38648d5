"""The robots blueprint: Project settings → Robots (add, edit, test, nginx configuration)."""

from flask import Blueprint

bp = Blueprint("robots", __name__, url_prefix="/projects/<int:project_id>/robots")

from webapp.blueprints.robots import routes  # noqa: E402, F401
