"""The system blueprint."""

from flask import Blueprint

bp = Blueprint("system", __name__, url_prefix="/system")

from webapp.blueprints.system import network, routes  # noqa: E402, F401
