"""The projects blueprint."""

from flask import Blueprint

bp = Blueprint("projects", __name__, url_prefix="/projects")

from webapp.blueprints.projects import routes  # noqa: E402, F401
