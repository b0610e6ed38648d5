"""Forms for projects and their members."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from webapp.ids import parse_id


class ProjectForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    description = TextAreaField(_l("Description"), validators=[Length(max=500)])


class AddMemberForm(FlaskForm):
    user_id = SelectField(_l("User"), coerce=parse_id, validate_choice=True)
