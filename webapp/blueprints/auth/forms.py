"""Forms for logging in and for a user's own profile; the account fields are shared with System settings."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectChoice, SelectField, StringField, TelField
from wtforms.validators import DataRequired, Email, EqualTo, Length, ValidationError

from webapp.services import ServiceError
from webapp.services import users as user_service


def valid_mobile(form, field) -> None:
    """The service's own rule, so the form and the service can never disagree about a number."""
    try:
        user_service.normalise_mobile(field.data)
    except ServiceError as error:
        raise ValidationError(error.message) from error


def name_field() -> StringField:
    return StringField(
        _l("Name"),
        validators=[DataRequired(_l("Enter a name.")), Length(max=user_service.MAX_NAME_LENGTH)],
    )


def email_field() -> EmailField:
    return EmailField(
        _l("E-mail"),
        validators=[
            DataRequired(_l("Enter an e-mail address.")),
            Email(user_service.EMAIL_INVALID),
            Length(max=user_service.MAX_EMAIL_LENGTH),
        ],
    )


def mobile_field() -> TelField:
    return TelField(_l("Mobile phone"), validators=[valid_mobile])


def new_password_field(label) -> PasswordField:
    return PasswordField(
        label,
        validators=[
            DataRequired(_l("Enter a password.")),
            Length(
                min=user_service.MIN_PASSWORD_LENGTH,
                max=user_service.MAX_PASSWORD_LENGTH,
                message=_l("Use %(min)d to %(max)d characters."),
            ),
        ],
    )


def confirm_field(label) -> PasswordField:
    return PasswordField(
        label,
        validators=[
            DataRequired(_l("Repeat the password.")),
            EqualTo("password", message=_l("The two passwords differ.")),
        ],
    )


class AccountForm(FlaskForm):
    """Name, e-mail and mobile of an account; the view sets `account_id` when the account exists already."""

    account_id: int | None = None

    name = name_field()
    email = email_field()
    mobile = mobile_field()

    def validate_email(self, field) -> None:
        # Checked here too, so a taken address is reported together with the other mistakes.
        if user_service.email_taken(field.data, self.account_id):
            raise ValidationError(user_service.EMAIL_TAKEN)


class LoginForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Email()])
    password = PasswordField(_l("Password"), validators=[DataRequired()])
    remember = BooleanField(_l("Remember me"))


class ProfileForm(AccountForm):
    locale = SelectField(
        _l("Language"),
        choices=[
            SelectChoice("", _l("Follow the browser")),
            SelectChoice("en", "English"),
            SelectChoice("zh", "简体中文"),
        ],
    )
    mail_own_changes = BooleanField(_l("Also mail me about changes I make myself"))


class PasswordForm(FlaskForm):
    current = PasswordField(
        _l("Current password"), validators=[DataRequired(_l("Enter your current password."))]
    )
    password = new_password_field(_l("New password"))
    confirm = confirm_field(_l("Repeat the new password"))
