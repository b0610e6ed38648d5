"""System settings: users and mail settings. Administrators only."""

from flask import abort, current_app, flash, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from webapp.blueprints.auth.sessions import stay_logged_in
from webapp.blueprints.system import bp
from webapp.blueprints.system.forms import MailSettingsForm, NewUserForm, ResetPasswordForm, UserForm
from webapp.ids import page_number
from webapp.services import ServiceError
from webapp.services import audit as audit_service
from webapp.services import settings as settings_service
from webapp.services import users as user_service
from webapp.web import actor, admin_required, is_htmx, redirect_to, render


def _user_or_404(user_id: int):
    return user_service.get_user(user_id) or abort(404)


def _edit_page(user, form: UserForm, password_form: ResetPasswordForm):
    return render_template(
        "system/user_edit.html",
        user=user,
        form=form,
        password_form=password_form,
        last_admin=user_service.is_last_active_admin(user),
        mail_warning=_mail_warning(user),
        section="users",
    )


def _mail_warning(user) -> str | None:
    """Why this user gets no mail, with what to do, for the hint under the e-mail field."""
    problem = user_service.mail_problem(user)
    if problem is None or not user.active:
        return None
    return _("%(problem)s Enter the address the user really reads.", problem=problem)


@bp.get("/")
@admin_required
def index():
    return redirect_to("system.users")


@bp.get("/users")
@admin_required
def users():
    search = request.args.get("q", "").strip()
    return render(
        "system/users.html",
        "system/_users_table.html",
        users=user_service.list_users(search),
        search=search,
        mail_problem=user_service.mail_problem,
        section="users",
    )


@bp.route("/users/new", methods=["GET", "POST"])
@admin_required
def create_user():
    form = NewUserForm()
    if form.validate_on_submit():
        try:
            user = user_service.create_user(
                form.name.data,
                form.email.data,
                form.password.data,
                role=form.role.data,
                mobile=form.mobile.data,
                by=actor(),
            )
        except ServiceError as error:
            getattr(form, error.field).errors.append(error.message)
        else:
            flash(_("User %(name)s is created. Give them the initial password yourself.", name=user.name))
            return redirect_to("system.users")
    return render_template("system/user_new.html", form=form, section="users")


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@admin_required
def edit_user(user_id: int):
    user = _user_or_404(user_id)
    form = UserForm(obj=user)
    form.account_id = user.id
    if form.validate_on_submit():
        try:
            user_service.update_user(
                user,
                name=form.name.data,
                email=form.email.data,
                mobile=form.mobile.data,
                role=form.role.data,
                active=form.active.data,
                by=actor(),
            )
        except ServiceError as error:
            getattr(form, error.field).errors.append(error.message)
        else:
            flash(_("User %(name)s is saved.", name=user.name))
            # An administrator who just demoted or disabled themself may no longer see this section.
            if not user_service.is_administrator(current_user):
                return redirect_to("projects.index")
            return redirect_to("system.users")
    return _edit_page(user, form, ResetPasswordForm(prefix="pw", formdata=None))


@bp.post("/users/<int:user_id>/password")
@admin_required
def reset_password(user_id: int):
    user = _user_or_404(user_id)
    password_form = ResetPasswordForm(prefix="pw")
    if password_form.validate_on_submit():
        try:
            user_service.set_password(user, password_form.password.data, by=actor())
        except ServiceError as error:
            getattr(password_form, error.field).errors.append(error.message)
        else:
            # Resetting one's own password here must not log out the administrator doing it.
            if user.id == current_user.id:
                stay_logged_in(user)
            flash(_("The password of %(name)s is changed. Tell them the new one yourself.", name=user.name))
            return redirect_to("system.edit_user", user_id=user.id)
    return _edit_page(user, UserForm(obj=user, formdata=None), password_form)


@bp.get("/audit")
@admin_required
def audit_log():
    """System settings → Audit log: logins, failed and refused ones, and changes to accounts, newest first."""
    return render(
        "system/audit.html",
        "system/_audit_table.html",
        entries=audit_service.entries(
            page=request.args.get("page", 1, type=page_number),
            per_page=current_app.config.get("AUDIT_PER_PAGE", 50),
        ),
        action_labels=audit_service.ACTION_LABELS,
        param_labels=audit_service.PARAM_LABELS,
        section="audit",
    )


@bp.route("/mail", methods=["GET", "POST"])
@admin_required
def mail():
    """Mail settings: save them, or try them first with Test connection and Send test mail."""
    stored = settings_service.mail_settings()
    form = MailSettingsForm(obj=stored if request.method == "GET" else None)
    action = request.form.get("action", "save")
    check = None
    if form.validate_on_submit():
        values, password = form.values(), form.password.data or None
        if action == "test":
            check = settings_service.test_connection(values, password)
        elif action == "send" and not form.test_to.data:
            form.test_to.errors.append(_("Enter the address to send the test mail to."))
        elif action == "send":
            check = settings_service.send_test_mail(values, password, form.test_to.data)
        else:
            try:
                settings_service.save_mail_settings(
                    values, password, clear_password=form.clear_password.data, by=actor()
                )
            except ServiceError as error:
                getattr(form, error.field).errors.append(error.message)
            else:
                flash(_("Mail settings are saved."))
                return redirect_to("system.mail")
    context = {"form": form, "stored": stored, "check": check, "action": action, "section": "mail"}
    if is_htmx() and action in ("test", "send"):
        return render_template("system/_mail_result.html", **context)
    return render_template("system/mail.html", **context)
