"""System settings → Network: the outbound proxy for robot and webhook traffic, with Test, and the addresses
inside Herald's own server that robots may reach. Administrators."""

from flask import flash, render_template, request
from flask_babel import gettext as _

from webapp.blueprints.system import bp
from webapp.blueprints.system.network_forms import NetworkSettingsForm
from webapp.services import ServiceError
from webapp.services import network as network_service
from webapp.web import actor, admin_required, is_htmx, redirect_to


@bp.route("/network", methods=["GET", "POST"])
@admin_required
def network():
    """Save the proxy, or first try it with Test against an address the administrator types."""
    stored = network_service.network_settings()
    form = NetworkSettingsForm(obj=stored if request.method == "GET" else None)
    action = request.form.get("action", "save")
    check = None
    if form.validate_on_submit():
        values, password = form.values(), form.proxy_password.data or None
        if action == "test" and not (form.test_url.data or "").strip():
            form.test_url.errors.append(_("Enter the address to reach, e.g. https://open.feishu.cn/."))
        elif action == "test":
            check = network_service.test_proxy(
                values, password, form.test_url.data, clear_password=form.clear_password.data
            )
        else:
            try:
                network_service.save_network_settings(values, password, form.clear_password.data, by=actor())
            except ServiceError as error:
                getattr(form, error.field).errors.append(error.message)
            else:
                flash(_("Network settings are saved."))
                return redirect_to("system.network")
    context = {
        "form": form,
        "stored": stored,
        "check": check,
        "action": action,
        "environment": network_service.environment_proxies(),
        "configured_allowance": network_service.configured_allowance(),
        "section": "network",
    }
    if is_htmx() and action == "test":
        return render_template("system/_network_result.html", **context)
    return render_template("system/network.html", **context)
