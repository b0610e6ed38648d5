"""Projects, their members and their activity."""

from flask import abort, flash, render_template, request
from flask_babel import gettext as _
from flask_login import current_user
from wtforms import SelectChoice

from webapp.blueprints.projects import bp
from webapp.blueprints.projects.forms import AddMemberForm, ProjectForm
from webapp.ids import page_number
from webapp.services import ServiceError
from webapp.services import projects as project_service
from webapp.services.cases import existing_case_ids
from webapp.services.users import get_user, is_administrator
from webapp.web import actor, admin_required, project_or_404, redirect_to, render


@bp.get("/")
def index():
    show_archived = is_administrator(current_user) and request.args.get("archived") == "1"
    projects = project_service.visible_projects(current_user, include_archived=show_archived)
    return render_template("projects/index.html", projects=projects, show_archived=show_archived)


@bp.route("/new", methods=["GET", "POST"])
@admin_required
def create():
    form = ProjectForm()
    if form.validate_on_submit():
        try:
            project = project_service.create_project(
                form.name.data, form.description.data, creator=current_user
            )
        except ServiceError as error:
            getattr(form, error.field).errors.append(error.message)
        else:
            flash(_("Project %(name)s is created.", name=project.name))
            return redirect_to("cases.index", project_id=project.id)
    return render_template("projects/form.html", form=form, project=None)


@bp.route("/<int:project_id>/settings", methods=["GET", "POST"])
@admin_required
def edit(project_id: int):
    project = project_or_404(project_id)
    form = ProjectForm(obj=project)
    if form.validate_on_submit():
        try:
            project_service.update_project(project, form.name.data, form.description.data)
        except ServiceError as error:
            getattr(form, error.field).errors.append(error.message)
        else:
            flash(_("The project is saved."))
            return redirect_to("projects.edit", project_id=project.id)
    return render_template("projects/form.html", form=form, project=project, section="general")


@bp.post("/<int:project_id>/archive")
@admin_required
def archive(project_id: int):
    project = project_or_404(project_id)
    archive = not project.archived
    project_service.set_archived(project, archive)
    flash(_("The project is archived.") if archive else _("The project is active again."))
    return redirect_to("projects.edit", project_id=project.id)


@bp.route("/<int:project_id>/members", methods=["GET", "POST"])
@admin_required(methods=("POST",))
def members(project_id: int):
    project = project_or_404(project_id)
    form = AddMemberForm()
    form.user_id.choices = [
        SelectChoice(u.id, f"{u.name} <{u.email}>") for u in project_service.non_members(project)
    ]
    if form.validate_on_submit():
        user = get_user(form.user_id.data) or abort(404)
        project_service.add_member(project, user, by=actor())
        flash(_("%(name)s is now a member.", name=user.name))
        return redirect_to("projects.members", project_id=project.id)
    return render(
        "projects/members.html", "projects/_members.html", project=project, form=form, section="members"
    )


@bp.post("/<int:project_id>/members/<int:user_id>/remove")
@admin_required
def remove_member(project_id: int, user_id: int):
    project = project_or_404(project_id)
    user = get_user(user_id) or abort(404)
    project_service.remove_member(project, user, by=actor())
    flash(_("%(name)s is no longer a member.", name=user.name))
    return redirect_to("projects.members", project_id=project.id)


@bp.get("/<int:project_id>/activity")
def activity(project_id: int):
    project = project_or_404(project_id)
    events = project_service.activity(project, page=request.args.get("page", 1, type=page_number))
    return render(
        "projects/activity.html",
        "projects/_events.html",
        project=project,
        events=events,
        live_case_ids=existing_case_ids(project, {e.case_id for e in events.items}),
        section="activity",
    )
