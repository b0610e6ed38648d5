"""Logging in and out, and a user's own profile."""

from datetime import timedelta

from flask import flash, make_response, render_template, request, url_for
from flask_babel import format_timedelta
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.utils import redirect

from webapp.blueprints.auth import bp
from webapp.blueprints.auth.forms import LoginForm, PasswordForm, ProfileForm
from webapp.blueprints.auth.sessions import log_in, log_out, stay_logged_in
from webapp.services import ServiceError
from webapp.services import logins as login_service
from webapp.services import sessions as session_service
from webapp.services import users as user_service
from webapp.web import actor, local_path, redirect_to


def _safe_next(target: str | None) -> str:
    """Only paths on this site, so the login page cannot be used to send people elsewhere."""
    return local_path(target) or url_for("projects.index")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("projects.index"))
    form = LoginForm()
    if form.validate_on_submit():
        attempt = login_service.attempt_login(form.email.data, form.password.data, request.remote_addr)
        if attempt.user is not None:
            log_in(attempt.user, remember=form.remember.data)
            return redirect(_safe_next(request.args.get("next")), code=303)
        if attempt.retry_after:
            return _throttled(form, attempt.retry_after)
        form.form_errors.append(_("Wrong e-mail or password, or the account is disabled."))
    return render_template("auth/login.html", form=form)


def _throttled(form: LoginForm, seconds: int):
    """429 Too Many Requests, saying how long to wait (the same for every account name, existing or not)."""
    wait = format_timedelta(timedelta(seconds=seconds), granularity="second", threshold=1)
    form.form_errors.append(_("Too many failed logins. Try again in %(wait)s.", wait=wait))
    response = make_response(render_template("auth/login.html", form=form), 429)
    response.headers["Retry-After"] = str(seconds)
    return response


@bp.post("/logout")
def logout():
    log_out(current_user._get_current_object())
    return redirect_to("auth.login")


@bp.post("/profile/logout-everywhere")
def logout_everywhere():
    """End every login of this user: other browsers, remember cookies, and this one."""
    session_service.end_all_sessions(current_user._get_current_object(), by=actor())
    log_out(current_user._get_current_object())
    flash(_("You are logged out everywhere."))
    return redirect_to("auth.login")


def _profile_page(form: ProfileForm, password_form: PasswordForm):
    problem = user_service.mail_problem(current_user)
    mail_warning = _("%(problem)s Enter the address you really read.", problem=problem) if problem else None
    return render_template(
        "auth/profile.html",
        form=form,
        password_form=password_form,
        mail_warning=mail_warning,
        session_count=session_service.session_count(current_user),
    )


@bp.route("/profile", methods=["GET", "POST"])
def profile():
    form = ProfileForm(obj=current_user)
    form.account_id = current_user.id
    if request.method == "GET":
        form.locale.data = current_user.locale or ""
    if form.validate_on_submit():
        try:
            user_service.update_user(
                current_user,
                name=form.name.data,
                email=form.email.data,
                mobile=form.mobile.data,
                locale=form.locale.data or None,
                mail_own_changes=form.mail_own_changes.data,
                by=actor(),
            )
        except ServiceError as error:
            getattr(form, error.field).errors.append(error.message)
        else:
            flash(_("Your profile is saved."))
            return redirect_to("auth.profile")
    return _profile_page(form, PasswordForm(prefix="pw", formdata=None))


@bp.post("/profile/password")
def change_password():
    password_form = PasswordForm(prefix="pw")
    if password_form.validate_on_submit():
        try:
            user_service.change_own_password(
                current_user, password_form.current.data, password_form.password.data, by=actor()
            )
        except ServiceError as error:
            getattr(password_form, error.field).errors.append(error.message)
        else:
            # The change logged out every browser of this user; this one stays in.
            stay_logged_in(current_user._get_current_object())
            flash(_("Your password is changed."))
            return redirect_to("auth.profile")
    form = ProfileForm(obj=current_user, formdata=None)
    form.locale.data = current_user.locale or ""
    return _profile_page(form, password_form)


@bp.get("/")
def home():
    return redirect(url_for("projects.index"))
