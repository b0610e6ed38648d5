"""Logging a browser in and out: each login is its own session on the server (services.sessions)."""

from flask import current_app, request
from flask_login import login_user, logout_user
from flask_login.config import COOKIE_NAME

from webapp.models import User
from webapp.services import sessions as session_service
from webapp.web import actor


def log_in(user: User, remember: bool) -> None:
    """Start a new login of this user for this browser."""
    session_service.start_session(user)
    login_user(user, remember=remember)


def log_out(user: User) -> None:
    """End this browser's login on the server too, so a copy of its cookies no longer works."""
    session_service.end_session(user, by=actor())
    logout_user()


def stay_logged_in(user: User) -> None:
    """Log this browser in again after the user's sessions were all ended, keeping its remember-me choice."""
    cookie = current_app.config.get("REMEMBER_COOKIE_NAME", COOKIE_NAME)
    log_in(user, remember=cookie in request.cookies)
