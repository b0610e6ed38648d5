"""Turning an event into words: editable templates with named variables, rendered in a sandbox."""

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from flask_babel import lazy_gettext as _l
from jinja2 import ChainableUndefined, StrictUndefined, Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup, escape

from webapp.notifications.events import EVENT_LABELS, FIELD_LABELS

# The variables a template may use, with what each means (shown beside the template editor).
VARIABLES = {
    "project": _l("the project's name"),
    "event": _l("what happened, e.g. Case updated"),
    "case_id": _l("the case's number"),
    "case_title": _l("the case's title"),
    "case_link": _l("the address of the case in Herald"),
    "module": _l("the case's module path"),
    "priority": _l("P0 to P3"),
    "maintainer": _l("the maintainer's name"),
    "tags": _l("the tags, comma-separated"),
    "operator": _l("who made the change"),
    "time": _l("when, in the server's time zone"),
    "changes": _l("for updates: a list of {field, old, new}"),
}

# Built-in wording: (subject, opening sentence) per language and event; the details below follow the opening.
_OPENINGS = {
    "en": {
        "case.created": (
            "[Herald] Case created: {{ case_title }}",
            "{{ operator }} created a case in {{ project }}.",
        ),
        "case.updated": (
            "[Herald] Case updated: {{ case_title }}",
            "{{ operator }} updated a case in {{ project }}.",
        ),
        "case.deleted": (
            "[Herald] Case deleted: {{ case_title }}",
            "{{ operator }} deleted a case in {{ project }}.",
        ),
    },
    "zh": {
        "case.created": (
            "[Herald] 功能用例创建通知: {{ case_title }}",
            "{{ operator }} 在项目「{{ project }}」中创建了功能用例。",
        ),
        "case.updated": (
            "[Herald] 功能用例更新通知: {{ case_title }}",
            "{{ operator }} 更新了项目「{{ project }}」中的功能用例。",
        ),
        "case.deleted": (
            "[Herald] 功能用例删除通知: {{ case_title }}",
            "{{ operator }} 删除了项目「{{ project }}」中的功能用例。",
        ),
    },
}

_DETAILS = {
    "en": """

Case: #{{ case_id }} {{ case_title }}
Module: {{ module }}
Priority: {{ priority }}
Maintainer: {{ maintainer }}
Time: {{ time }}
{% if changes %}
Changes:
{% for c in changes %}- {{ c.field }}: {{ c.old }} → {{ c.new }}
{% endfor %}{% endif %}
{{ case_link }}
""",
    "zh": """

用例: #{{ case_id }} {{ case_title }}
模块: {{ module }}
优先级: {{ priority }}
维护人: {{ maintainer }}
时间: {{ time }}
{% if changes %}
变更:
{% for c in changes %}- {{ c.field }}: {{ c.old }} → {{ c.new }}
{% endfor %}{% endif %}
{{ case_link }}
""",
}


# Robots: the same titles, a short body (a chat message is read at a glance).
_ROBOT_DETAILS = {
    "en": """{{ operator }} · {{ project }}
#{{ case_id }} {{ case_title }} ({{ priority }})
{% for c in changes %}- {{ c.field }}: {{ c.old }} → {{ c.new }}
{% endfor %}""",
    "zh": """{{ operator }} · {{ project }}
#{{ case_id }} {{ case_title }}（{{ priority }}）
{% for c in changes %}- {{ c.field }}: {{ c.old }} → {{ c.new }}
{% endfor %}""",
}


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def default_template(language: str, channel: str, event: str) -> tuple[str, str]:
    """The built-in subject (a robot's title) and body for an event and channel ("email" or "robot")."""
    language = language if language in _OPENINGS else "en"
    subject, opening = _OPENINGS[language][event]
    if channel == "robot":
        return subject, _ROBOT_DETAILS[language]
    return subject, opening + _DETAILS[language]


_strict = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
_lenient = SandboxedEnvironment(undefined=ChainableUndefined, autoescape=False, keep_trailing_newline=True)


@lru_cache(maxsize=256)
def _compiled(source: str) -> Template:
    """A template compiled once: compiling costs far more than rendering, and templates rarely change."""
    return _lenient.from_string(source)


def check_template(source: str) -> str | None:
    """None when the template renders with sample values, else the error to show next to the field."""
    try:
        _strict.from_string(source).render(sample_context())
    except TemplateError as error:
        return str(error)
    return None


def _text(value: Any) -> str:
    if value is None or value == "" or value == []:
        return "∅"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def event_context(event, project_name: str, operator: str, base_url: str) -> dict[str, Any]:
    """The named variables for one event, as plain strings (no markup: escaping is the channel's business).

    Field and event names come out in the current locale (see flask_babel.force_locale).
    """
    case = event.data.get("case", {})
    if event.kind == "case.deleted":
        link = f"{base_url}/projects/{event.project_id}/activity"
    else:
        link = f"{base_url}/projects/{event.project_id}/cases/{event.case_id}"
    changes = [
        {"field": str(FIELD_LABELS.get(name, name)), "old": _text(old), "new": _text(new)}
        for name, (old, new) in event.data.get("changes", {}).items()
    ]
    created: datetime = event.created_at
    return {
        "project": project_name,
        "event": str(EVENT_LABELS.get(event.kind, event.kind)),
        "case_id": event.case_id,
        "case_title": case.get("title", ""),
        "case_link": link,
        "module": case.get("module") or "∅",
        "priority": case.get("priority", ""),
        "maintainer": case.get("maintainer") or "∅",
        "tags": ", ".join(case.get("tags", [])),
        "operator": operator,
        "time": created.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z"),
        "changes": changes,
    }


def sample_context() -> dict[str, Any]:
    """Values for previews and for checking a template before it is saved."""
    return {
        "project": "Checkout",
        "event": "Case updated",
        "case_id": 42,
        "case_title": "Pay with a saved card",
        "case_link": "http://herald.example/projects/1/cases/42",
        "module": "Payment/Cards",
        "priority": "P0",
        "maintainer": "Mei",
        "tags": "smoke, payment",
        "operator": "Ada",
        "time": "2026-11-28 10:00:00 CST",
        "changes": [{"field": "Priority", "old": "P2", "new": "P0"}],
    }


def one_line(text: str) -> str:
    """A subject on one line: CR, LF and other line breaks become spaces (no header injection)."""
    return " ".join(text.split())


def render(subject_source: str, body_source: str, context: dict[str, Any]) -> Rendered:
    """Render subject and body; the HTML part is the text, escaped, with the case link made clickable."""
    subject = one_line(_compiled(subject_source).render(context))
    text = _compiled(body_source).render(context).strip() + "\n"
    return Rendered(subject=subject, text=text, html=_html(text, context.get("case_link", "")))


def _html(text: str, link: str) -> str:
    body = escape(text)
    if link:
        body = Markup(str(body).replace(str(escape(link)), f'<a href="{escape(link)}">{escape(link)}</a>'))
    return (
        '<!doctype html><html><body style="font-family:sans-serif;font-size:14px;line-height:1.6">'
        f'<div style="white-space:pre-wrap">{body}</div>'
        '<p style="color:#888;font-size:12px">Herald</p></body></html>'
    )
