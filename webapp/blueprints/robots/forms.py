"""Forms for robots and for their nginx gateway."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    PasswordField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import Length, Optional

from webapp.services import robots as robot_service
from webapp.services.robots import MAX_NAME, MAX_SECRET, MAX_URL, RobotInput

STYLE_CHOICES = [
    SelectChoice("text", _l("Plain text")),
    SelectChoice("markdown", _l("Markdown (rich text on Feishu and Lark)")),
]


class RobotForm(FlaskForm):
    """One robot. The service checks the values; the lengths here only keep a pasted novel out."""

    # Choices are checked by the service, whose messages say what to do.
    kind = SelectField(
        _l("Kind"),
        choices=[SelectChoice(kind, label) for kind, label in robot_service.kinds()],
        validate_choice=False,
    )
    name = StringField(_l("Name"), validators=[Length(max=MAX_NAME * 2)])
    webhook_url = StringField(_l("Webhook address"), validators=[Length(max=MAX_URL)])
    keywords = TextAreaField(_l("Custom keywords"), validators=[Length(max=2000)])
    secret = PasswordField(_l("Signing secret"), validators=[Optional(), Length(max=MAX_SECRET)])
    clear_secret = BooleanField(_l("Remove the stored secret"))
    style = RadioField(_l("Message style"), choices=STYLE_CHOICES, default="text", validate_choice=False)
    at_all = BooleanField(_l("@everyone in the group with every message"))
    enabled = BooleanField(_l("Enabled: post messages to the group"), default=True)
    secret_path = BooleanField(_l("The address's path is secret"))
    secret_params = StringField(_l("Secret query parameters"), validators=[Length(max=500)])

    @classmethod
    def for_robot(cls, robot) -> "RobotForm":
        """The edit form: the address and the secret are never put back into the page."""
        secret_path, secret_params = robot_service.secret_choices(robot)
        return cls(
            data={
                "kind": robot.kind,
                "name": robot.name,
                "keywords": "\n".join(robot.keywords or []),
                "style": robot.style,
                "at_all": robot.at_all,
                "enabled": robot.enabled,
                "secret_path": secret_path,
                "secret_params": ", ".join(secret_params),
            }
        )

    def to_input(self) -> RobotInput:
        return RobotInput(
            kind=self.kind.data or "",
            name=self.name.data or "",
            webhook_url=self.webhook_url.data or "",
            keywords=self.keywords.data or "",
            secret=self.secret.data or "",
            clear_secret=bool(self.clear_secret.data),
            style=self.style.data or "text",
            at_all=bool(self.at_all.data),
            enabled=bool(self.enabled.data),
            secret_path=bool(self.secret_path.data),
            secret_params=self.secret_params.data or "",
        )


class GatewayForm(FlaskForm):
    """The intranet gateway's address, e.g. http://gateway.intra:8080 (GET: it changes nothing)."""

    class Meta:
        csrf = False

    gateway_url = StringField(_l("Gateway address"), validators=[Length(max=500)])


class UseGatewayForm(FlaskForm):
    """Point the robot at the gateway (POST, administrators)."""

    gateway_url = StringField(_l("Gateway address"), validators=[Length(max=500)])
