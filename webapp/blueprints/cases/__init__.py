"""The cases blueprint."""

from flask import Blueprint

bp = Blueprint("cases", __name__, url_prefix="/projects/<int:project_id>/cases")

from webapp.blueprints.cases import routes  # noqa: E402, F401
