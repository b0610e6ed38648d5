"""The messages blueprint: Project settings → Message settings (and, as they come, robots and deliveries)."""

from flask import Blueprint

bp = Blueprint("messages", __name__, url_prefix="/projects/<int:project_id>")

from webapp.blueprints.messages import routes  # noqa: E402, F401
