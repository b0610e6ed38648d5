"""The names of events and of a case's fields as people read them, in activity, mail and robot messages.

Kept apart from events.py: recording an event plans its messages (outbox, rendering), and rendering needs
these names, so they live below both.
"""

from flask_babel import lazy_gettext as _l

FIELD_LABELS = {
    "title": _l("Title"),
    "module": _l("Module"),
    "priority": _l("Priority"),
    "precondition": _l("Precondition"),
    "steps": _l("Steps"),
    "expected": _l("Expected result"),
    "tags": _l("Tags"),
    "maintainer": _l("Maintainer"),
    "followers": _l("Followers"),
}

EVENT_LABELS = {
    "case.created": _l("Case created"),
    "case.updated": _l("Case updated"),
    "case.deleted": _l("Case deleted"),
}
