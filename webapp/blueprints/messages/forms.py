"""Forms for message settings and templates."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    Form,
    FormField,
    SelectChoice,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from webapp.ids import parse_id
from webapp.services.messages import template_problem

RECEIVER_CHOICES = [
    SelectChoice("creator", _l("Creator")),
    SelectChoice("maintainer", _l("Maintainer")),
    SelectChoice("followers", _l("Followers")),
    SelectChoice("members", _l("All members")),
]


class CheckboxList(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class EventSettingForm(Form):
    """One event's row: e-mail on or off, and who receives it."""

    email = BooleanField(_l("Send e-mail"))
    receivers = CheckboxList(_l("Receivers"), choices=RECEIVER_CHOICES)
    named_user_ids = SelectMultipleField(_l("Also these members"), coerce=parse_id)
    robot_ids = CheckboxList(_l("Robots"), coerce=parse_id)


class MessageSettingsForm(FlaskForm):
    created = FormField(EventSettingForm, label=_l("Case created"))
    updated = FormField(EventSettingForm, label=_l("Case updated"))
    deleted = FormField(EventSettingForm, label=_l("Case deleted"))


def _renders(form, field):
    error = template_problem(field.data or "")
    if error:
        raise ValidationError(_l("The template does not render: %(error)s", error=error))


class TemplateForm(FlaskForm):
    subject = StringField(_l("Subject"), validators=[DataRequired(), Length(max=500), _renders])
    body = TextAreaField(_l("Body"), validators=[DataRequired(), Length(max=20000), _renders])
