"""Turning an event into words: editable templates with named variables, rendered in a sandbox."""

import functools
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from flask_babel import lazy_gettext as _l
from jinja2 import ChainableUndefined, StrictUndefined, Template, TemplateError, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup, escape

from webapp.notifications import links
from webapp.notifications.labels import EVENT_LABELS, FIELD_LABELS

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


@dataclass(frozen=True)
class Failure:
    """A template that could not render a message: why, and what to do (stored on the delivery)."""

    code: str
    cause: str
    fix: str


def failure(error: Exception) -> Failure:
    """The delivery's failed-for-good outcome for a template that did not render."""
    fix = str(
        _l(
            "Correct the template in Project settings → Message settings (its preview shows the problem); "
            "the next changes are sent with it."
        )
    )
    if isinstance(error, TemplateBudgetError):
        return Failure("template_budget", str(error), fix)
    detail = str(error) if isinstance(error, TemplateError) else f"{type(error).__name__}: {error}"
    return Failure("template", str(_l("The message template does not render: %(error)s", error=detail)), fix)


def default_template(language: str, channel: str, event: str) -> tuple[str, str]:
    """The built-in subject (a robot's title) and body for an event and channel ("email" or "robot")."""
    language = language if language in _OPENINGS else "en"
    subject, opening = _OPENINGS[language][event]
    if channel == "robot":
        return subject, _ROBOT_DETAILS[language]
    return subject, opening + _DETAILS[language]


# --- the budget: what one rendering may cost ---------------------------------------------------------------
# Generous for any real template (the built-in ones take a few loop steps, a few hundred characters and well
# under a millisecond), small enough that a template written to stall a worker fails at once.
LOOP_STEPS = 10_000  # iterations of all the template's loops together
OUTPUT_CHARS = 200_000  # characters of the output, and of any value built on the way
# Processor time of the rendering thread, not wall time: a busy machine (other processes, other threads
# holding the interpreter) must never fail a real template, only the template's own work counts.
SECONDS = 0.25
# A width of a million or more in a format string ("%9999999d", "{:>9999999}") builds a huge string at once.
_WIDE_FORMAT = re.compile(r"%[-+ #0]*\d{6,}|\{[^{}]*:[^{}]*\d{6,}[^{}]*\}")

_LIMIT_TEXT = {
    "loops": _l(
        "The template is too costly: its loops ran more than %(limit)s steps. Loop over fewer items.",
        limit=f"{LOOP_STEPS:,}",
    ),
    "size": _l(
        "The template is too costly: it makes more than %(limit)s characters. Shorten what it repeats.",
        limit=f"{OUTPUT_CHARS:,}",
    ),
    "time": _l(
        "The template is too costly: rendering it took longer than %(limit)s s. Simplify its loops.",
        limit=SECONDS,
    ),
}


class TemplateBudgetError(TemplateError):
    """A template went over its budget: too many loop steps, too much output, or too long."""

    def __init__(self, limit: str) -> None:
        self.limit = limit  # "loops", "size" or "time"
        super().__init__(str(_LIMIT_TEXT[limit]))


class _Budget:
    __slots__ = ("deadline", "steps")

    def __init__(self) -> None:
        self.deadline = time.thread_time() + SECONDS
        self.steps = LOOP_STEPS

    def tick(self) -> None:
        if time.thread_time() > self.deadline:
            raise TemplateBudgetError("time")


_budget: ContextVar[_Budget | None] = ContextVar("herald_template_budget", default=None)


def _tick() -> None:
    budget = _budget.get()
    if budget is not None:
        budget.tick()


def _sized(value: Any) -> Any:
    """The value, unless it is a string or collection over the output budget."""
    _tick()
    if isinstance(value, (str, list, tuple, dict)) and len(value) > OUTPUT_CHARS:
        raise TemplateBudgetError("size")
    return value


def _counted(iterable: Iterable) -> Iterator:
    """A loop's items, each one counted against the budget."""
    budget = _budget.get()
    for item in iterable:
        if budget is not None:
            budget.steps -= 1
            if budget.steps < 0:
                raise TemplateBudgetError("loops")
            budget.tick()
        yield item


def _wide(value: Any) -> None:
    if isinstance(value, str) and _WIDE_FORMAT.search(value):
        raise TemplateBudgetError("size")


def _sized_filter(function: Callable) -> Callable:
    @functools.wraps(function)  # keeps jinja's pass_context / pass_environment marks
    def checked(*args, **kwargs):
        for value in (*args, *kwargs.values()):
            if isinstance(value, int) and not isinstance(value, bool) and value > OUTPUT_CHARS:
                raise TemplateBudgetError("size")  # center(10**9), indent(10**9): built before any check
        if function.__name__ == "do_format" and args:
            _wide(args[0])
        return _sized(function(*args, **kwargs))

    return checked


class _BudgetCodeGenerator(CodeGenerator):
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        # a ~ b ~ c: doubled in a loop it would reach gigabytes in thirty steps
        self.write("environment.sized(")
        super().visit_Concat(node, frame)
        self.write(")")


class _BudgetedEnvironment(SandboxedEnvironment):
    """Jinja's sandbox, plus a budget: loop steps counted, every value built kept small, time watched."""

    code_generator_class = _BudgetCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.filters = {name: _sized_filter(f) for name, f in self.filters.items()}
        self.filters["herald_counted"] = _counted

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, "herald_counted", [], [], None, None, lineno=loop.lineno)
        return tree

    def sized(self, value: Any) -> Any:
        return _sized(value)

    def call_binop(self, context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, (int, float)) and right > 1000:
            raise TemplateBudgetError("size")
        if operator == "*":
            for many, times in ((left, right), (right, left)):
                if (
                    isinstance(many, (str, list, tuple))
                    and isinstance(times, int)
                    and len(many) * times > OUTPUT_CHARS
                ):
                    raise TemplateBudgetError("size")
        if operator == "%":
            _wide(left)
        return _sized(super().call_binop(context, operator, left, right))

    def call(__self, __context, __obj, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 - jinja's signature
        _tick()
        return _sized(super().call(__context, __obj, *args, **kwargs))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        _wide(getattr(value, "__self__", None))  # "{:>99999999}".format(1)
        return super().wrap_str_format(value)


def as_is(text: str) -> str:
    """No escaping: mail (its HTML part is escaped whole) and the generic webhook (JSON is data)."""
    return text


@lru_cache(maxsize=16)
def _environment(escape_value: Callable[[str], str], strict: bool) -> _BudgetedEnvironment:
    """A sandbox whose every {{ value }} goes through escape_value: what members wrote stays text.

    The template's own text is not touched: only it may format, mention or link.
    """

    def finalize(value: Any) -> str:
        return escape_value(value if isinstance(value, str) else str(value))

    return _BudgetedEnvironment(
        undefined=StrictUndefined if strict else ChainableUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        finalize=None if escape_value is as_is else finalize,
    )


@lru_cache(maxsize=256)
def _compiled(source: str, escape_value: Callable[[str], str] = as_is) -> Template:
    """A template compiled once: compiling costs far more than rendering, and templates rarely change."""
    return _environment(escape_value, False).from_string(source)


def _run(template: Template, context: dict[str, Any]) -> str:
    """The template's output, rendered within the budget."""
    token = _budget.set(_Budget())
    try:
        parts, size = [], 0
        for part in template.generate(context):
            size += len(part)
            if size > OUTPUT_CHARS:
                raise TemplateBudgetError("size")
            _tick()
            parts.append(part)
        return "".join(parts)
    except RecursionError:
        raise TemplateBudgetError("time") from None
    finally:
        _budget.reset(token)


def check_template(source: str) -> str | None:
    """None when the template renders with sample values, else the error to show next to the field."""
    try:
        _run(_environment(as_is, True).from_string(source), sample_context())
    except TemplateError as error:
        return str(error)
    except Exception as error:  # 1/0, an overflow: a template mistake, not Herald's
        return f"{type(error).__name__}: {error}"
    return None


def _text(value: Any) -> str:
    if value is None or value == "" or value == []:
        return "∅"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def event_context(event, project_name: str, operator: str, link: str) -> dict[str, Any]:
    """The named variables for one event, as plain strings (no markup: escaping is the channel's business).

    Field and event names come out in the current locale (see flask_babel.force_locale).
    """
    case = event.data.get("case", {})
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
        "case_link": links.case_link("http://herald.example", 1, 42),
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


def render(
    subject_source: str,
    body_source: str,
    context: dict[str, Any],
    escape_value: Callable[[str], str] = as_is,
) -> Rendered:
    """Render subject and body within the budget, each value escaped by escape_value for the channel.

    The HTML part is the text, escaped, with the case link made clickable. Raises TemplateError (a
    TemplateBudgetError when the template is too costly).
    """
    subject = one_line(_run(_compiled(subject_source, escape_value), context))
    text = _run(_compiled(body_source, escape_value), context).strip() + "\n"
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
