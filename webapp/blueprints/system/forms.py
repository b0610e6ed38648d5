"""Forms for System settings: users and mail settings."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
    ValidationError,
)
from wtforms.validators import DataRequired, Email, InputRequired, Length, NumberRange, Optional

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


SECURITY_LABELS = [
    SelectChoice("ssl", _l("SSL (implicit TLS, usually port 465)")),
    SelectChoice("starttls", _l("STARTTLS (usually port 587)")),
    SelectChoice("none", _l("None (an intranet relay, usually port 25)")),
]


class MailSettingsForm(FlaskForm):
    """System settings → Mail settings; every value can be tried with Test connection before saving."""

    host = StringField(_l("SMTP host"), validators=[DataRequired(), Length(max=255)])
    port = IntegerField(_l("Port"), validators=[InputRequired(), NumberRange(min=1, max=65535)], default=465)
    security = RadioField(_l("Security"), choices=SECURITY_LABELS, default="ssl")
    username = StringField(_l("Account"), validators=[Optional(), Length(max=254)])
    password = PasswordField(_l("Password or authorization code"), validators=[Optional(), Length(max=256)])
    clear_password = BooleanField(_l("Remove the stored password"))
    sender_address = EmailField(_l("Sender address"), validators=[DataRequired(), Email(), Length(max=254)])
    sender_name = StringField(_l("Sender name"), validators=[Optional(), Length(max=100)], default="Herald")
    timeout = IntegerField(
        _l("Timeout (seconds)"), validators=[InputRequired(), NumberRange(min=1, max=120)], default=10
    )
    verify_tls = BooleanField(_l("Verify the server's certificate"), default=True)
    ca_bundle = TextAreaField(
        _l("Trusted CA certificate (PEM, optional)"), validators=[Optional(), Length(max=65536)]
    )
    test_to = EmailField(_l("Send a test mail to"), validators=[Optional(), Email(), Length(max=254)])
    language = SelectField(
        _l("Language of the default templates"),
        choices=[SelectChoice("zh", "简体中文"), SelectChoice("en", "English")],
        default="zh",
    )

    def validate_ca_bundle(self, field):
        text = (field.data or "").strip()
        if text and "-----BEGIN CERTIFICATE-----" not in text:
            raise ValidationError(
                _l("Paste the certificate in PEM form, starting with -----BEGIN CERTIFICATE-----.")
            )

    def values(self) -> dict:
        """The settings as the service takes them (password apart)."""
        return {
            "host": self.host.data.strip(),
            "port": self.port.data,
            "security": self.security.data,
            "username": (self.username.data or "").strip(),
            "sender_address": self.sender_address.data.strip(),
            "sender_name": (self.sender_name.data or "").strip(),
            "timeout": self.timeout.data,
            "verify_tls": self.verify_tls.data,
            "ca_bundle": (self.ca_bundle.data or "").strip(),
            "language": self.language.data,
        }
