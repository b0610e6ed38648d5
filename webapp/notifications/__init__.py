"""Notifications: domain events in, messages out. See DESIGN.md's Architecture section.

The package itself imports nothing: its modules import one another by their own names, so that importing one
of them (rendering, say) never loads the whole chain from events down.
"""
