"""Small helpers the blueprints share: HTMX detection, access rules, rendering page or fragment."""

from datetime import datetime
from functools import wraps
from urllib.parse import urlsplit

from flask import abort, current_app, redirect, render_template, request, url_for
from flask_babel import format_datetime
from flask_login import current_user

from webapp.services.audit import Actor
from webapp.services.projects import project_for
from webapp.services.users import is_administrator

# Endpoints reachable without logging in.
PUBLIC_ENDPOINTS = {"auth.login", "static"}


def is_htmx() -> bool:
    """True when htmx wants a fragment: boosted requests and history restores want the whole page."""
    headers = request.headers
    return (
        headers.get("HX-Request") == "true"
        and headers.get("HX-Boosted") != "true"
        and headers.get("HX-History-Restore-Request") != "true"
    )


def render(page: str, fragment: str | None = None, **context):
    """Render the whole page, or just its fragment when htmx asks (one URL serves both)."""
    return render_template(fragment if fragment and is_htmx() else page, **context)


def add_vary_header(response):
    """Page and fragment share a URL, so caches must key on HX-Request."""
    response.vary.add("HX-Request")
    return response


# Scripts, styles, images and fonts from Herald itself only; no inline script and no eval (htmx is set not to
# need them, see base.html). Style attributes are allowed (style-src-attr): the pages and the e-mail preview
# (a sandboxed srcdoc frame, which inherits this policy) use them, and an attribute cannot read the page as an
# injected <style> element could. `frame-ancestors 'none'`: no other site may frame Herald (clickjacking).
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "style-src-attr 'unsafe-inline'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # addresses of Herald's pages (project and case ids) stay in Herald
    "Cross-Origin-Opener-Policy": "same-origin",
}


def add_security_headers(response):
    """The headers above on every response; HSTS only when Herald is served over HTTPS (secure cookies)."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if current_app.config.get("SESSION_COOKIE_SECURE"):
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


def require_login():
    """Every page but the login needs a login."""
    if request.endpoint in PUBLIC_ENDPOINTS or request.endpoint is None:
        return None
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    return None


def admin_required(view=None, *, methods: tuple[str, ...] | None = None):
    """Administrators only (for these methods, or all); others get 403. The one way views check it.

    On a project's address the project is looked up first: an outsider gets 404, no hint that it exists.
    """

    def decorate(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if methods is None or request.method in methods:
                if "project_id" in kwargs:
                    project_or_404(kwargs["project_id"])
                if not is_administrator(current_user):
                    abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorate(view) if view is not None else decorate


def actor():
    """Who acts in this request, for the audit log: the logged-in user, if any, and the client address."""
    return Actor(current_user.id if current_user.is_authenticated else None, request.remote_addr)


def redirect_to(endpoint: str, **values):
    """The 303 a successful POST answers with."""
    return redirect(url_for(endpoint, **values), code=303)


def local_path(target: str | None) -> str | None:
    r"""`target` if a browser would read it as a path on this site, else None (for `next` after a login).

    Browsers drop tabs and newlines anywhere in a URL and read a backslash as a slash, so "/\t/evil.example"
    and "/\evil.example" both lead to another site: any control character or backslash refuses the target.
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def format_time(value: datetime | None) -> str:
    return format_datetime(value, "medium") if value else ""


def project_or_404(project_id: int):
    """The project if the logged-in user may see it; 404 otherwise, so outsiders learn nothing of it."""
    project = project_for(current_user, project_id)
    if project is None:
        abort(404)
    return project
