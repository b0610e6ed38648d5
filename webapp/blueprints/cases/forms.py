"""The case form, and the search box of the list."""

from collections.abc import Iterable
from dataclasses import fields

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from webapp.ids import parse_id
from webapp.models import Case, Project, User
from webapp.models.cases import PRIORITIES
from webapp.services.cases import (
    MAX_ID,
    MAX_MODULE,
    MAX_TAGS,
    MAX_TEXT,
    MAX_TITLE,
    CaseInput,
    grouped,
    parse_tags,
)

PRIORITY_CHOICES = [SelectChoice(p, p) for p in PRIORITIES]
# The fields that show a case's values, named as in CaseInput.
VALUE_FIELDS = [f.name for f in fields(CaseInput) if f.name != "version"]


def _too_long(limit: int):
    return Length(max=limit, message=_l("At most %(limit)s characters.", limit=grouped(limit)))


def optional_id(value) -> int | None:
    """A user id from a select; the blank choice means nobody."""
    if value is None or value == "" or value == "None":
        return None
    return parse_id(value)


def user_id(value) -> int:
    return parse_id(value)


def loaded_version(value) -> int:
    """The version an edit form was loaded at; 0, which no case has, for a form without one."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return 0
    return number if 0 < number <= MAX_ID else 0


class CaseForm(FlaskForm):
    title = StringField(
        _l("Title"), validators=[DataRequired(message=_l("A case needs a title.")), _too_long(MAX_TITLE)]
    )
    module = StringField(_l("Module"), validators=[_too_long(MAX_MODULE)])
    priority = SelectField(
        _l("Priority"),
        choices=PRIORITY_CHOICES,
        default="P2",
        invalid_choice_message=_l("Choose a priority from P0 to P3."),
    )
    precondition = TextAreaField(_l("Precondition"), validators=[_too_long(MAX_TEXT)])
    steps = TextAreaField(_l("Steps"), validators=[_too_long(MAX_TEXT)])
    expected = TextAreaField(_l("Expected result"), validators=[_too_long(MAX_TEXT)])
    tags = StringField(_l("Tags"), validators=[_too_long(MAX_TAGS)])
    # Membership is the service's rule; the form only turns the choice into an id.
    maintainer_id = SelectField(
        _l("Maintainer"),
        coerce=optional_id,
        validate_choice=False,
        invalid_value_message=_l("Choose a member of this project."),
    )
    follower_ids = SelectMultipleField(
        _l("Followers"),
        coerce=user_id,
        validate_choice=False,
        invalid_value_message=_l("Choose members of this project."),
    )

    def offer_people(self, project: Project, case: Case | None = None) -> None:
        """Members to choose from, plus anyone already on the case who has since left the project."""
        people: dict[int, User] = {u.id: u for u in project.members}
        if case is not None:
            people.update({u.id: u for u in [case.maintainer, *case.followers] if u is not None})
        member_ids = {u.id for u in project.members}
        choices = [SelectChoice(str(u.id), _person_label(u, u.id in member_ids)) for u in people.values()]
        self.maintainer_id.choices = [SelectChoice("", _l("Nobody")), *choices]
        self.follower_ids.choices = choices

    def to_input(self) -> CaseInput:
        return CaseInput(
            title=self.title.data or "",
            module=self.module.data or "",
            priority=self.priority.data,
            precondition=self.precondition.data or "",
            steps=self.steps.data or "",
            expected=self.expected.data or "",
            tags=parse_tags(self.tags.data or ""),
            maintainer_id=self.maintainer_id.data,
            follower_ids=list(self.follower_ids.data or []),
        )


class CaseEditForm(CaseForm):
    """The case form for an existing case: it carries the version of the case it was loaded at."""

    version = HiddenField(filters=[loaded_version])

    @classmethod
    def for_case(cls, case: Case) -> "CaseEditForm":
        """A form showing the case's current values."""
        form = cls(data={"version": case.version})
        form.show(CaseInput.of(case))
        return form

    def show(self, data: CaseInput, names: Iterable[str] | None = None) -> None:
        """Fill the fields (or only those named) with these values, and take their version as the form's."""
        for name in names if names is not None else VALUE_FIELDS:
            value = getattr(data, name)
            self[name].data = ", ".join(value) if name == "tags" else value
        self.version.data = data.version

    def to_input(self) -> CaseInput:
        data = super().to_input()
        data.version = self.version.data
        return data


def _person_label(user: User, is_member: bool) -> str:
    if not is_member:
        return str(_l("%(name)s (no longer a member)", name=user.name))
    if not user.active:
        return str(_l("%(name)s (disabled)", name=user.name))
    return user.name
