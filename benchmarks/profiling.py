"""Where the time of a measured step goes, from cProfile: database, network, the rest."""

import cProfile
import pstats
from collections.abc import Callable

# (label, how a profiled function is recognised: file part and function name)
PARTS = (
    ("SQLite commit", ("~", "<method 'commit' of 'sqlite3.Connection' objects>")),
    ("SQLite statements", ("~", "<method 'execute' of 'sqlite3.Cursor' objects>")),
    ("HTTP post (requests, incl. waiting for the reply)", ("notifications/http.py", "post")),
    ("SMTP conversation (smtplib, incl. TLS)", ("smtplib.py", "sendmail")),
    ("Jinja compile of message templates", ("jinja2/environment.py", "compile")),
    ("composing MIME (email package)", ("email/generator.py", "flatten")),
    (
        "SQLAlchemy expiring loaded objects after each commit",
        ("sqlalchemy/orm/session.py", "_remove_snapshot"),
    ),
)


def profile(*actions: Callable[[], object], between: Callable[[], object] = lambda: None):
    """Run each action under cProfile (`between` runs unprofiled after each one).

    Returns the profiled seconds and the seconds spent in each of PARTS (cumulative).
    """
    profiler = cProfile.Profile()
    for action in actions:
        profiler.enable()
        action()
        profiler.disable()
        between()
    stats = pstats.Stats(profiler)
    total = stats.total_tt
    found = []
    for label, (file_part, name) in PARTS:
        seconds = sum(
            row[3]
            for (filename, _, function), row in stats.stats.items()
            if function == name and file_part in filename
        )
        if seconds:
            found.append((label, seconds))
    return total, found


def describe(total: float, parts: list[tuple[str, float]], per: int = 1) -> str:
    """'SQLite commit 41% (2.1 ms), ...' per item, the rest as 'other'."""
    if not total:
        return ""
    rest = total - sum(seconds for _, seconds in parts)
    items = [*parts, ("other Python", max(rest, 0.0))]
    return "; ".join(
        f"{label} {seconds / total:.0%} ({seconds / per * 1000:.2f} ms)" for label, seconds in items
    )
