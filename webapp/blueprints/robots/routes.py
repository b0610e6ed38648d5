"""Project settings → Robots: list, add, edit, enable or disable, delete, test message, nginx forward."""

from flask import abort, flash, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from webapp.blueprints.robots import bp
from webapp.blueprints.robots.forms import GatewayForm, RobotForm, UseGatewayForm
from webapp.models import Project, Robot
from webapp.services import ServiceError
from webapp.services import robots as robot_service
from webapp.services.users import is_administrator
from webapp.web import actor, admin_required, is_htmx, project_or_404, redirect_to, render

# Shown in the gateway field until an administrator types their own.
EXAMPLE_GATEWAY = "http://gateway.intra:8080"


@bp.context_processor
def helpers() -> dict:
    """What the robot templates call: labels, and addresses only ever shown masked."""
    return {
        "kind_label": robot_service.kind_label,
        "shown_url": robot_service.shown_url,
        "shown": robot_service.masked_address,
        "uses_keywords": robot_service.uses_keywords,
        "uses_secret": robot_service.uses_secret,
        "mention_notice": robot_service.mention_notice,
    }


def _robot_or_404(project: Project, robot_id: int) -> Robot:
    robot = robot_service.get_robot(project, robot_id)
    if robot is None:
        abort(404)
    return robot


def _refuse_members(project: Project):
    """Members see the robots; only administrators change them: a form page sends them back to the list.

    (A POST of theirs never gets here: admin_required answers it with 403.)
    """
    if is_administrator(current_user):
        return None
    flash(_("Only administrators can change robots."), "warning")
    return redirect_to("robots.index", project_id=project.id)


def _show_errors(form: RobotForm, error: ServiceError) -> None:
    """Put each of the service's messages next to its field."""
    errors = getattr(error, "errors", None) or {error.field: error.message}
    for name, message in errors.items():
        field = form._fields.get(name) if name else None
        if field is not None:
            field.errors = [*field.errors, message]
        else:
            form.form_errors.append(message)


def _flash_saved(message: str, warnings: list[str]) -> None:
    flash(message)
    for warning in warnings:
        flash(warning, "warning")


def _list(project: Project, notice: str | None = None):
    """The robot list: the page, or for htmx the list alone, with a notice of what just happened."""
    return render(
        "robots/index.html",
        "robots/_list.html",
        project=project,
        robots=robot_service.list_robots(project),
        notice=notice,
        section="robots",
    )


def _after_change(project: Project, message: str):
    """htmx gets the updated list in place; a plain form, a 303 back to the list with a flash."""
    if is_htmx():
        return _list(project, notice=message)
    flash(message)
    return redirect_to("robots.index", project_id=project.id)


def _form_page(project: Project, form: RobotForm, robot: Robot | None):
    """The form; an address typed into a form sent back with errors is not echoed: it holds the token."""
    url_dropped = bool((form.webhook_url.data or "").strip())
    form.webhook_url.data = ""
    return render_template(
        "robots/form.html",
        project=project,
        form=form,
        robot=robot,
        current_url=robot_service.shown_url(robot) if robot else "",
        url_dropped=url_dropped,
        kind_hints=robot_service.kind_hints(),
        secret_hints=robot_service.secret_hints(),
        form_kinds=robot_service.form_kinds(),
        mention_notices=robot_service.mention_notices(),
        examples=robot_service.example_urls(),
        section="robots",
    )


@bp.get("/")
def index(project_id: int):
    return _list(project_or_404(project_id))


@bp.route("/new", methods=["GET", "POST"])
@admin_required(methods=("POST",))
def create(project_id: int):
    project = project_or_404(project_id)
    if refused := _refuse_members(project):
        return refused
    form = RobotForm()
    if form.validate_on_submit():
        try:
            saved = robot_service.create_robot(project, form.to_input(), by=actor())
        except ServiceError as error:
            _show_errors(form, error)
        else:
            _flash_saved(_("Robot “%(name)s” is added.", name=saved.robot.name), saved.warnings)
            return redirect_to("robots.index", project_id=project.id)
    return _form_page(project, form, None)


@bp.route("/<int:robot_id>/edit", methods=["GET", "POST"])
@admin_required(methods=("POST",))
def edit(project_id: int, robot_id: int):
    project = project_or_404(project_id)
    robot = _robot_or_404(project, robot_id)
    if refused := _refuse_members(project):
        return refused
    form = RobotForm.for_robot(robot) if request.method == "GET" else RobotForm()
    if form.validate_on_submit():
        try:
            saved = robot_service.update_robot(robot, form.to_input(), by=actor())
        except ServiceError as error:
            _show_errors(form, error)
        else:
            _flash_saved(_("Robot “%(name)s” is saved.", name=robot.name), saved.warnings)
            return redirect_to("robots.index", project_id=project.id)
    return _form_page(project, form, robot)


@bp.route("/<int:robot_id>/delete", methods=["GET", "POST"])
@admin_required(methods=("POST",))
def delete(project_id: int, robot_id: int):
    """GET asks for confirmation (the page for browsers without JavaScript); POST deletes."""
    project = project_or_404(project_id)
    robot = _robot_or_404(project, robot_id)
    if refused := _refuse_members(project):
        return refused
    if request.method == "GET":
        return render_template("robots/delete.html", project=project, robot=robot, section="robots")
    name = robot.name
    robot_service.delete_robot(robot, by=actor())
    return _after_change(project, _("Robot “%(name)s” is deleted.", name=name))


@bp.post("/<int:robot_id>/enable")
@admin_required
def enable(project_id: int, robot_id: int):
    project = project_or_404(project_id)
    robot = _robot_or_404(project, robot_id)
    robot_service.set_enabled(robot, True, by=actor())
    return _after_change(project, _("Robot “%(name)s” is enabled.", name=robot.name))


@bp.post("/<int:robot_id>/disable")
@admin_required
def disable(project_id: int, robot_id: int):
    project = project_or_404(project_id)
    robot = _robot_or_404(project, robot_id)
    robot_service.set_enabled(robot, False, by=actor())
    return _after_change(
        project, _("Robot “%(name)s” is disabled: it posts nothing until enabled.", name=robot.name)
    )


@bp.post("/<int:robot_id>/test")
@admin_required
def test(project_id: int, robot_id: int):
    """Send a test message now and show what came of it: in place for htmx, as a page otherwise."""
    project = project_or_404(project_id)
    robot = _robot_or_404(project, robot_id)
    result = robot_service.send_test(robot, project, current_user.name)
    return render(
        "robots/test.html",
        "robots/_test_result.html",
        project=project,
        robot=robot,
        result=result,
        section="robots",
    )


@bp.route("/<int:robot_id>/nginx", methods=["GET", "POST"])
@admin_required(methods=("POST",))
def nginx(project_id: int, robot_id: int):
    """The nginx location block for this robot, and its address through the gateway; POST switches to it."""
    project = project_or_404(project_id)
    robot = _robot_or_404(project, robot_id)
    if request.method == "POST":
        return _use_gateway(project, robot)
    form = GatewayForm(request.args)
    form.validate()
    typed = (form.gateway_url.data or "").strip()
    forward, error = _forward(robot, typed or EXAMPLE_GATEWAY)
    return render(
        "robots/nginx.html",
        "robots/_nginx.html",
        project=project,
        robot=robot,
        form=form,
        typed=typed,
        forward=forward,
        error=error,
        example_gateway=EXAMPLE_GATEWAY,
        section="robots",
    )


def _forward(robot: Robot, gateway_url: str):
    """(forward, None), or (None, the error) when the configuration cannot be made."""
    try:
        return robot_service.shown_forward(robot, gateway_url), None
    except robot_service.GatewayProblem as error:
        return None, error


def _use_gateway(project: Project, robot: Robot):
    form = UseGatewayForm()
    back = redirect_to("robots.nginx", project_id=project.id, robot_id=robot.id)
    if not form.validate_on_submit():
        flash(_("Enter the gateway's address (at most 500 characters)."), "error")
        return back
    try:
        robot_service.use_gateway(robot, form.gateway_url.data or "")
    except robot_service.GatewayProblem as error:
        flash(error.message, "error")
        return back
    flash(
        _(
            "Robot “%(name)s” now posts through the gateway: %(url)s. "
            "Use Send test message to check the way.",
            name=robot.name,
            url=robot_service.shown_url(robot),
        )
    )
    return redirect_to("robots.index", project_id=project.id)
