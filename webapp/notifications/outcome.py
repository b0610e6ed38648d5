"""What came of one attempt to deliver a message, in words a user can act on."""

from dataclasses import dataclass

from webapp.models.notifications import AttemptStatus

# An outcome is recorded as its attempt's status: one enum for both (a channel never says INTERRUPTED).
Status = AttemptStatus


@dataclass(frozen=True)
class Outcome:
    """The verdict on one attempt: status, a plain-language cause and fix, and the raw reply behind them."""

    status: Status
    cause: str = ""
    fix: str = ""
    code: str | None = None  # the provider's or server's own code, e.g. "19024", "310000", "535"
    raw: str = ""  # the reply as received (secrets masked), shown one click away

    @property
    def ok(self) -> bool:
        return self.status is Status.SENT
