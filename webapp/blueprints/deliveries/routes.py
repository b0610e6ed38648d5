"""The Delivery log: every message, its attempts and replies, and Resend; per project and system-wide."""

from flask import abort, current_app, flash, redirect, request, url_for
from flask_babel import format_datetime, to_user_timezone
from flask_babel import format_time as format_clock
from flask_babel import gettext as _

from webapp.blueprints.deliveries import bp
from webapp.blueprints.deliveries.forms import DeliveryFilterForm
from webapp.ids import page_number
from webapp.models import Delivery, Project
from webapp.models._types import utcnow
from webapp.models.notifications import DeliveryStatus
from webapp.services import ServiceError
from webapp.services import deliveries as delivery_service
from webapp.web import admin_required, format_time, is_htmx, project_or_404, render


@bp.context_processor
def _labels():
    return {
        "channel_label": delivery_service.channel_label,
        "status_labels": delivery_service.STATUS_LABELS,
        "attempt_labels": delivery_service.ATTEMPT_LABELS,
        "poll_seconds": delivery_service.poll_seconds,
        "reply_from_provider": delivery_service.reply_from_provider,
        "delivery_state": delivery_service.state,
        "can_resend": delivery_service.can_resend,
        "short_cause": delivery_service.short_cause,
        "short_time": _short_time,
    }


def _short_time(value) -> str:
    """A time of today as the clock shows it; another day's with its date."""
    if to_user_timezone(value).date() == to_user_timezone(utcnow()).date():
        return format_clock(value, "short")
    return format_datetime(value, "short")


def _delivery_or_404(delivery_id: int, project: Project | None) -> Delivery:
    delivery = delivery_service.get_delivery(delivery_id, project.id if project else None)
    if delivery is None:
        abort(404)
    return delivery


def _log_url(project: Project | None):
    """Builds the addresses of this log's pages: the project's, or the system-wide one."""
    scope = {"project_id": project.id} if project else {}
    prefix = "deliveries.project_" if project else "deliveries.system_"

    def log_url(name: str, **values) -> str:
        return url_for(prefix + name, **scope, **values)

    return log_url


def _log(project: Project | None):
    form = DeliveryFilterForm(formdata=request.args)
    form.validate()
    filters = form.to_filter()
    deliveries = delivery_service.search_deliveries(
        filters,
        project.id if project else None,
        page=request.args.get("page", 1, type=page_number),
        per_page=current_app.config.get("DELIVERIES_PER_PAGE", 50),
    )
    return render(
        "deliveries/index.html",
        "deliveries/_table.html",
        project=project,
        form=form,
        filtered=filters != delivery_service.DeliveryFilter(),
        deliveries=deliveries,
        project_names=delivery_service.project_names(deliveries.items),
        log_url=_log_url(project),
        now=utcnow(),
        section="deliveries",
    )


def _detail(project: Project | None, delivery_id: int):
    """The whole page; for htmx polling, only its changing part (status, attempts, Resend)."""
    delivery = _delivery_or_404(delivery_id, project)
    return render(
        "deliveries/detail.html",
        "deliveries/_status.html",
        project=project,
        delivery=delivery,
        project_names=delivery_service.project_names([delivery]),
        case_exists=delivery_service.case_still_exists(delivery),
        log_url=_log_url(project),
        now=utcnow(),
        section="deliveries",
    )


def _row(project: Project | None, delivery_id: int):
    """One row of the log, for a row that polls itself; a browser gets the message's page."""
    delivery = _delivery_or_404(delivery_id, project)
    log_url = _log_url(project)
    if not is_htmx():
        return redirect(log_url("detail", delivery_id=delivery.id))
    return render(
        "deliveries/_row.html",
        delivery=delivery,
        project=project,
        project_names=delivery_service.project_names([delivery]),
        log_url=log_url,
        now=utcnow(),
    )


def _resend(project: Project | None, delivery_id: int):
    delivery = _delivery_or_404(delivery_id, project)
    try:
        delivery = delivery_service.resend(delivery)
    except ServiceError as error:
        flash(error.message, "warning")
    else:
        flash(*_resend_outcome(delivery))
    return redirect(_log_url(project)("detail", delivery_id=delivery.id), code=303)


def _resend_outcome(delivery: Delivery) -> tuple[str, str]:
    """The flash message telling how the new attempt went, and its category."""
    if reason := delivery_service.why_not_sent(delivery):
        return reason, "error"
    if delivery.status == DeliveryStatus.SENT:
        return _("Sent again: the message was accepted."), "message"
    if delivery.status == DeliveryStatus.FAILED:
        return _("Sent again, and it failed: %(cause)s", cause=delivery.cause), "error"
    if delivery.status == DeliveryStatus.RETRYING:
        return _(
            "Sent again, and it met a temporary failure: Herald tries again at %(time)s.",
            time=format_time(delivery.next_attempt_at),
        ), "warning"
    return _("The message is on its way again; this page shows the result when it is known."), "message"


@bp.get("/projects/<int:project_id>/deliveries")
def project_log(project_id: int):
    return _log(project_or_404(project_id))


@bp.get("/projects/<int:project_id>/deliveries/<int:delivery_id>")
def project_detail(project_id: int, delivery_id: int):
    return _detail(project_or_404(project_id), delivery_id)


@bp.get("/projects/<int:project_id>/deliveries/<int:delivery_id>/row")
def project_row(project_id: int, delivery_id: int):
    return _row(project_or_404(project_id), delivery_id)


@bp.post("/projects/<int:project_id>/deliveries/<int:delivery_id>/resend")
@admin_required
def project_resend(project_id: int, delivery_id: int):
    return _resend(project_or_404(project_id), delivery_id)


@bp.get("/system/deliveries")
@admin_required
def system_log():
    return _log(None)


@bp.get("/system/deliveries/<int:delivery_id>")
@admin_required
def system_detail(delivery_id: int):
    return _detail(None, delivery_id)


@bp.get("/system/deliveries/<int:delivery_id>/row")
@admin_required
def system_row(delivery_id: int):
    return _row(None, delivery_id)


@bp.post("/system/deliveries/<int:delivery_id>/resend")
@admin_required
def system_resend(delivery_id: int):
    return _resend(None, delivery_id)
