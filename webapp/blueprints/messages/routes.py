"""Project settings → Message settings: channels and receivers per event, and the message templates."""

from flask import abort, flash, render_template, request
from flask_babel import gettext as _
from wtforms import SelectChoice

from webapp.blueprints.messages import bp
from webapp.blueprints.messages.forms import MessageSettingsForm, TemplateForm
from webapp.models.notifications import EVENT_KINDS
from webapp.services import messages as message_service
from webapp.web import actor, admin_required, project_or_404, redirect_to

# Form field name for each event.
EVENT_FIELDS = {"case.created": "created", "case.updated": "updated", "case.deleted": "deleted"}


@bp.route("/messages", methods=["GET", "POST"])
@admin_required(methods=("POST",))
def settings(project_id: int):
    project = project_or_404(project_id)
    saved = message_service.saved_settings(project.id)
    form = MessageSettingsForm()
    member_choices = [SelectChoice(u.id, u.name) for u in project.members]
    robots = message_service.robots(project.id)
    robot_choices = [SelectChoice(r.id, r.name) for r in robots]
    for kind, name in EVENT_FIELDS.items():
        sub = getattr(form, name)
        sub.named_user_ids.choices = member_choices
        sub.robot_ids.choices = robot_choices
        if request.method == "GET":
            sub.email.data = saved[kind].email
            sub.receivers.data = saved[kind].receivers
            sub.named_user_ids.data = saved[kind].named_user_ids
            sub.robot_ids.data = [r.id for r in robots if kind in (r.events or [])]
    if form.validate_on_submit():
        choices = {}
        for kind, name in EVENT_FIELDS.items():
            sub = getattr(form, name)
            choices[kind] = message_service.EventChoice(
                sub.email.data, sub.receivers.data, sub.named_user_ids.data, sub.robot_ids.data
            )
        message_service.save_settings(project.id, choices, by=actor())
        flash(_("Message settings are saved."))
        return redirect_to("messages.settings", project_id=project.id)
    templates = {kind: message_service.current_template(project.id, kind) for kind in EVENT_KINDS}
    return render_template(
        "messages/settings.html",
        project=project,
        form=form,
        event_fields=EVENT_FIELDS,
        templates=templates,
        robots=robots,
        section="messages",
    )


@bp.route("/messages/templates/<event>", methods=["GET", "POST"])
@admin_required(methods=("POST",))
def template(project_id: int, event: str):
    project = project_or_404(project_id)
    if event not in EVENT_KINDS:
        abort(404)
    subject, body, is_default = message_service.current_template(project.id, event)
    form = TemplateForm(data={"subject": subject, "body": body})
    if form.validate_on_submit():
        if request.form.get("action") == "reset":
            message_service.reset_template(project.id, event, by=actor())
            flash(_("The template is back to the default."))
        else:
            message_service.save_template(project.id, event, form.subject.data, form.body.data, by=actor())
            flash(_("The template is saved."))
        return redirect_to("messages.template", project_id=project.id, event=event)
    return render_template(
        "messages/template.html",
        project=project,
        event=event,
        form=form,
        is_default=is_default,
        variables=message_service.VARIABLES,
        preview=message_service.preview(form.subject.data or "", form.body.data or "")
        if not form.errors
        else None,
        section="messages",
    )


@bp.post("/messages/templates/<event>/preview")
def preview(project_id: int, event: str):
    project_or_404(project_id)
    form = TemplateForm()
    form.validate()
    rendered = None if form.errors else message_service.preview(form.subject.data, form.body.data)
    return render_template("messages/_preview.html", form=form, preview=rendered)
