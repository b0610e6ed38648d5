"""Ids and page numbers from the outside world, bounded to what the database can hold."""

from werkzeug.routing import IntegerConverter

# The largest id a 64-bit signed integer column holds (PostgreSQL BIGINT, SQLite INTEGER); SERIAL ids are
# smaller still, so anything above is simply not found.
MAX_ID = 2**63 - 1
# Far more pages than any list has; a larger number would only make the database compute a huge offset.
MAX_PAGE = 1_000_000


class BoundedIntConverter(IntegerConverter):
    """`<int:...>` in every route: a number above MAX_ID does not match, so the answer is 404, not a 500 from
    the database driver. Registered in place of Werkzeug's own `int`, so that no route can forget it."""

    def __init__(self, map, fixed_digits=0, min=None, max=MAX_ID, signed=False):
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def parse_id(value) -> int:
    """An id typed or posted by a client; ValueError unless it is a whole number from 1 to MAX_ID."""
    number = int(value)
    if not 0 < number <= MAX_ID:
        raise ValueError("not an id")
    return number


def page_number(value) -> int:
    """A `page` query argument; ValueError (so the caller's default applies) unless 1 to MAX_PAGE."""
    number = int(value)
    if not 0 < number <= MAX_PAGE:
        raise ValueError("not a page")
    return number
