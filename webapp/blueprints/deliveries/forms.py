"""The Delivery log's filter: a GET form, so that a filtered list has an address to share."""

from datetime import UTC, date, datetime, time, timedelta

from flask_babel import get_timezone
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectChoice, SelectField
from wtforms.validators import Optional, ValidationError

from webapp.services.deliveries import (
    CHANNEL_KINDS,
    STATUS_LABELS,
    TEST_MESSAGES,
    DeliveryFilter,
    channel_label,
    event_labels,
)

BAD_DATE = _l("Enter a date like 2025-03-31.")


class DeliveryFilterForm(FlaskForm):
    class Meta:
        csrf = False  # a search, not a change

    status = SelectField(
        _l("Status"),
        choices=[SelectChoice("", _l("Any")), *(SelectChoice(k, v) for k, v in STATUS_LABELS.items())],
        default="",
        validate_choice=True,
        invalid_choice_message=_l("Choose a status from the list."),
    )
    channel = SelectField(
        _l("Channel"),
        default="",
        invalid_choice_message=_l("Choose a channel from the list."),
    )
    event = SelectField(
        _l("Event"),
        default="",
        invalid_choice_message=_l("Choose an event from the list."),
    )
    since = DateField(_l("From"), validators=[Optional()], invalid_value_message=BAD_DATE)
    until = DateField(_l("To"), validators=[Optional()], invalid_value_message=BAD_DATE)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.channel.choices = [SelectChoice("", _l("Any"))] + [
            SelectChoice(kind, channel_label(kind)) for kind in CHANNEL_KINDS
        ]
        self.event.choices = [
            SelectChoice("", _l("Any")),
            *(SelectChoice(kind, label) for kind, label in event_labels()),
            SelectChoice(TEST_MESSAGES, _l("Test messages")),
        ]

    def validate_until(self, field):
        if field.data and self.since.data and field.data < self.since.data:
            raise ValidationError(_l("The end date is before the start date."))

    def to_filter(self) -> DeliveryFilter:
        """The valid part of what was asked; a field with an error filters nothing."""

        def ok(name):
            field = self[name]
            return None if field.errors else field.data

        return DeliveryFilter(
            status=ok("status") or "",
            channel=ok("channel") or "",
            event=ok("event") or "",
            since=_midnight(ok("since")),
            until=_midnight(ok("until"), days_after=1),
        )


def _midnight(day: date | None, days_after: int = 0) -> datetime | None:
    """Midnight starting that day (or days after) where the user is, in UTC, as the database keeps time."""
    if day is None:
        return None
    try:
        local = datetime.combine(day + timedelta(days=days_after), time.min)
        return get_timezone().localize(local).astimezone(UTC)
    except OverflowError:  # the year 1 or 9999: no bound on that side
        return None
