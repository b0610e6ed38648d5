"""The case form, and the search box of the list."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from webapp.ids import parse_id
from webapp.models import Case, Project, User
from webapp.models.cases import PRIORITIES
from webapp.services.cases import MAX_MODULE, MAX_TAGS, MAX_TEXT, MAX_TITLE, CaseInput, grouped, parse_tags

PRIORITY_CHOICES = [SelectChoice(p, p) for p in PRIORITIES]


def _too_long(limit: int):
    return Length(max=limit, message=_l("At most %(limit)s characters.", limit=grouped(limit)))


def optional_id(value) -> int | None:
    """A user id from a select; the blank choice means nobody."""
    if value is None or value == "" or value == "None":
        return None
    return parse_id(value)


def user_id(value) -> int:
    return parse_id(value)


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

    @classmethod
    def for_case(cls, case: Case) -> "CaseForm":
        """A form showing the case's current values."""
        return cls(
            data={
                "title": case.title,
                "module": case.module,
                "priority": case.priority,
                "precondition": case.precondition,
                "steps": case.steps,
                "expected": case.expected,
                "tags": ", ".join(case.tag_list),
                "maintainer_id": case.maintainer_id,
                "follower_ids": [u.id for u in case.followers],
            }
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


def _person_label(user: User, is_member: bool) -> str:
    if not is_member:
        return str(_l("%(name)s (no longer a member)", name=user.name))
    if not user.active:
        return str(_l("%(name)s (disabled)", name=user.name))
    return user.name
