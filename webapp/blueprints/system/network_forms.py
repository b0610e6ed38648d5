"""The form of System settings → Network: the outbound proxy, the address its Test reaches, and the outbound
guard's allowlist."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField, TextAreaField, ValidationError
from wtforms.validators import Length, Optional

from webapp.services import network as network_service


class NetworkSettingsForm(FlaskForm):
    """Proxy address, optional login (the password is set or replaced, never shown), no-proxy list."""

    proxy_url = StringField(_l("Proxy address"), validators=[Optional(), Length(max=500)])
    proxy_username = StringField(_l("User name"), validators=[Optional(), Length(max=200)])
    proxy_password = PasswordField(_l("Password"), validators=[Optional(), Length(max=256)])
    clear_password = BooleanField(_l("Remove the stored password"))
    no_proxy = TextAreaField(_l("No proxy for"), validators=[Optional(), Length(max=1000)])
    test_url = StringField(_l("Address to reach"), validators=[Optional(), Length(max=2000)])
    outbound_allow = TextAreaField(
        _l("Allowed internal addresses"), validators=[Optional(), Length(max=1000)]
    )

    def validate_proxy_url(self, field):
        problem = network_service.proxy_url_problem(field.data)
        if problem:
            raise ValidationError(problem)

    def validate_proxy_password(self, field):
        if field.data and not (self.proxy_username.data or "").strip():
            raise ValidationError(_l("Enter the user name that goes with the password."))

    def validate_no_proxy(self, field):
        bad = network_service.bad_no_proxy_entries(field.data)
        if bad:
            raise ValidationError(network_service.no_proxy_message(bad))

    def validate_outbound_allow(self, field):
        problem = network_service.allowlist_problem(field.data)
        if problem:
            raise ValidationError(problem)

    def validate_test_url(self, field):
        if field.data and field.data.strip():
            problem = network_service.test_url_problem(field.data)
            if problem:
                raise ValidationError(problem)

    def values(self) -> dict:
        """The settings as the service takes them (password apart)."""
        return {
            "proxy_url": (self.proxy_url.data or "").strip(),
            "proxy_username": (self.proxy_username.data or "").strip(),
            "no_proxy": self.no_proxy.data or "",
            "outbound_allow": self.outbound_allow.data or "",
        }
