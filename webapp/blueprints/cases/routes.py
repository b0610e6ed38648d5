"""Functional cases of a project."""

from webapp.blueprints.cases import bp  # noqa: F401
