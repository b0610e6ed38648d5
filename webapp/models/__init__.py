"""Models, one module per aggregate."""

from webapp.models.audit import AuditEvent, LoginThrottle
from webapp.models.cases import Case, case_followers
from webapp.models.notifications import (
    Delivery,
    DeliveryAttempt,
    Event,
    MessageSetting,
    MessageTemplate,
    Robot,
    RobotPacing,
)
from webapp.models.projects import Membership, Project
from webapp.models.settings import MailSettings, NetworkSettings
from webapp.models.users import User, UserSession

__all__ = [
    "AuditEvent",
    "Case",
    "Delivery",
    "DeliveryAttempt",
    "Event",
    "MailSettings",
    "LoginThrottle",
    "Membership",
    "MessageSetting",
    "MessageTemplate",
    "NetworkSettings",
    "Project",
    "Robot",
    "RobotPacing",
    "User",
    "UserSession",
    "case_followers",
]
