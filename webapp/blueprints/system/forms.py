"""Forms for System settings: users."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectChoice, SelectField

from webapp.blueprints.auth.forms import AccountForm, confirm_field, new_password_field

ROLE_CHOICES = [SelectChoice("member", _l("Member")), SelectChoice("admin", _l("Administrator"))]


class UserForm(AccountForm):
    """An administrator's edit of an account."""

    role = SelectField(_l("Role"), choices=ROLE_CHOICES)
    active = BooleanField(_l("Active: can log in and is notified"))


class NewUserForm(UserForm):
    """A new account, with the password its owner logs in with first."""

    active = None
    password = new_password_field(_l("Initial password"))
    confirm = confirm_field(_l("Repeat the password"))


class ResetPasswordForm(FlaskForm):
    """An administrator sets a new password for someone who lost theirs."""

    password = new_password_field(_l("New password"))
    confirm = confirm_field(_l("Repeat the new password"))
