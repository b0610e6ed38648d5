"""Models, one module per aggregate."""

from webapp.models.cases import Case, case_followers
from webapp.models.notifications import Event
from webapp.models.projects import Membership, Project
from webapp.models.users import User

__all__ = ["Case", "Event", "Membership", "Project", "User", "case_followers"]
