"""Notifications: domain events in, messages out. See DESIGN.md's Architecture section."""

from webapp.notifications.events import record_event

__all__ = ["record_event"]
