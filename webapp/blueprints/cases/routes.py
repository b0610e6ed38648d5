"""Functional cases of a project: list and search, create, view, edit, delete."""

from flask import abort, current_app, flash, make_response, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from webapp.blueprints.cases import bp
from webapp.blueprints.cases.forms import CaseEditForm, CaseForm
from webapp.ids import page_number
from webapp.models import Case, Project
from webapp.models.cases import PRIORITIES
from webapp.services import ServiceError
from webapp.services import cases as case_service
from webapp.web import is_htmx, project_or_404, redirect_to, render


def _case_or_404(project: Project, case_id: int) -> Case:
    """The case; for a deleted one, a page saying who deleted it and when (410 Gone); else 404."""
    case = case_service.get_case(project, case_id)
    if case is None:
        deleted = case_service.deletion(project, case_id)
        if deleted is not None:
            abort(make_response(render_template("cases/deleted.html", project=project, event=deleted), 410))
        abort(404)
    return case


def _actor():
    """The logged-in user itself, not Flask-Login's proxy: the services store it on rows."""
    return current_user._get_current_object()


def _go(endpoint: str, **values):
    """Leave for another page: a 303, or for htmx a full navigation (a swap would nest a page in a page)."""
    if is_htmx():
        response = make_response("", 200)
        response.headers["HX-Redirect"] = url_for(endpoint, **values)
        return response
    return redirect_to(endpoint, **values)


def _read_only(project: Project, case: Case | None = None):
    """For an archived project, the answer that refuses a change; None when changes are allowed."""
    if not project.archived:
        return None
    flash(_("Nothing was changed: this project is archived."), "warning")
    if case is not None:
        return _go("cases.view", project_id=project.id, case_id=case.id)
    return _go("cases.index", project_id=project.id)


def _show_error(form: CaseForm, error: ServiceError) -> None:
    """Put a service's message next to its field, or above the form when it names none."""
    field = form._fields.get(error.field) if error.field else None
    if field is not None:
        field.errors.append(error.message)
    else:
        form.form_errors.append(error.message)


@bp.get("/")
def index(project_id: int):
    project = project_or_404(project_id)
    query = request.args.get("q", "").strip()[:200]
    priority = request.args.get("priority", "")
    priority = priority if priority in PRIORITIES else ""
    page = request.args.get("page", 1, type=page_number)
    cases = case_service.search_cases(
        project, query, priority, page=page, per_page=current_app.config["CASES_PER_PAGE"]
    )
    template = "cases/_table.html" if is_htmx() else "cases/index.html"
    return render_template(
        template, project=project, cases=cases, query=query, priority=priority, priorities=PRIORITIES
    )


@bp.route("/new", methods=["GET", "POST"])
def create(project_id: int):
    project = project_or_404(project_id)
    if refused := _read_only(project):
        return refused
    form = CaseForm()
    form.offer_people(project)
    if form.validate_on_submit():
        try:
            case = case_service.create_case(project, _actor(), form.to_input())
        except ServiceError as error:
            _show_error(form, error)
        else:
            flash(_("Case #%(id)s is created.", id=case.id))
            return _go("cases.view", project_id=project.id, case_id=case.id)
    return render("cases/form.html", "cases/_form.html", project=project, form=form, case=None)


@bp.get("/<int:case_id>")
def view(project_id: int, case_id: int):
    project = project_or_404(project_id)
    case = _case_or_404(project, case_id)
    return render_template("cases/view.html", project=project, case=case)


@bp.route("/<int:case_id>/edit", methods=["GET", "POST"])
def edit(project_id: int, case_id: int):
    project = project_or_404(project_id)
    case = _case_or_404(project, case_id)
    if refused := _read_only(project, case):
        return refused
    form = CaseEditForm.for_case(case) if request.method == "GET" else CaseEditForm()
    form.offer_people(project, case)
    conflict = None
    if form.validate_on_submit():
        try:
            changes = case_service.update_case(case, _actor(), form.to_input())
        except case_service.CaseGone as error:
            flash(error.message, "error")
            return _go("cases.index", project_id=project.id)
        except case_service.StaleCase as error:
            conflict = error
            form.show(error.merged, error.taken)  # the user's values, on the stored version
            form.offer_people(project, case)
        except ServiceError as error:
            _show_error(form, error)
        else:
            flash(_("Case #%(id)s is saved.", id=case.id) if changes else _("Nothing changed."))
            return _go("cases.view", project_id=project.id, case_id=case.id)
    return render(
        "cases/form.html", "cases/_form.html", project=project, form=form, case=case, conflict=conflict
    )


@bp.route("/<int:case_id>/delete", methods=["GET", "POST"])
def delete(project_id: int, case_id: int):
    """GET asks for confirmation (the page for browsers without JavaScript); POST deletes."""
    project = project_or_404(project_id)
    case = _case_or_404(project, case_id)
    if refused := _read_only(project, case):
        return refused
    if request.method == "GET":
        return render_template("cases/delete.html", project=project, case=case)
    number, title = case.id, case.title
    try:
        case_service.delete_case(case, _actor())
    except ServiceError as error:
        flash(error.message, "error")
        return _go("cases.view", project_id=project.id, case_id=number)
    flash(_("Case #%(id)s “%(title)s” is deleted.", id=number, title=title))
    return _go("cases.index", project_id=project.id)
