"""Keeping the current browser logged in when the user's other sessions are ended."""

from flask import current_app, request
from flask_login import login_user
from flask_login.config import COOKIE_NAME

from webapp.models import User


def stay_logged_in(user: User) -> None:
    """Log this browser in again under the user's new session token, keeping its remember-me choice."""
    cookie = current_app.config.get("REMEMBER_COOKIE_NAME", COOKIE_NAME)
    login_user(user, remember=cookie in request.cookies)
