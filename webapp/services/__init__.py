"""The rules of the domain, callable without a request."""


class ServiceError(ValueError):
    """A rule was broken; `field` names the form field the message belongs next to, if any."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
