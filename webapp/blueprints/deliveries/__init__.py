"""The deliveries blueprint: Project settings → Delivery log, and the system-wide log for administrators."""

from flask import Blueprint

bp = Blueprint("deliveries", __name__)

from webapp.blueprints.deliveries import routes  # noqa: E402, F401
