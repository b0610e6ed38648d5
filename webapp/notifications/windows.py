"""Counting a robot's sends in its rate windows: pure arithmetic on epoch seconds, no database."""

from bisect import bisect_left

from webapp.notifications.channels.spec import Window

# A send counts a little longer than its window, so that rounding never lets one slip in at the edge.
MARGIN = 0.01


def in_window(sent_at: float, window: Window, now: float) -> bool:
    return now - sent_at < window.seconds + MARGIN


def first_in_window(times: list[float], window: Window, now: float) -> int:
    """The index of the first of the times (oldest first) that still counts in the window."""
    return bisect_left(times, True, key=lambda sent_at: in_window(sent_at, window, now))


def wait_for_slot(times: list[float], windows: tuple[Window, ...], now: float) -> float:
    """Seconds until one more send keeps every window within its limit; 0 when it may go now.

    times: the sends, oldest first.
    """
    wait = 0.0
    for window in windows:
        first = first_in_window(times, window, now)
        excess = len(times) - first - window.limit
        if excess >= 0:  # the oldest excess + 1 sends in the window must leave it first
            wait = max(wait, times[first + excess] + window.seconds + MARGIN - now)
    return wait


def room_left(times: list[float], windows: tuple[Window, ...], now: float, horizon: float) -> int | None:
    """Sends left in the windows longer than horizon (the ones a message is deferred for); None: no such.

    times: the sends, oldest first.
    """
    rooms = [
        window.limit - (len(times) - first_in_window(times, window, now))
        for window in windows
        if window.seconds > horizon
    ]
    return min(rooms) if rooms else None


def prune(sends: list[list[float]], windows: tuple[Window, ...], now: float) -> list[list[float]]:
    """The sends that still count in some window, oldest first."""
    longest = max(windows, key=lambda w: w.seconds)
    return sorted((send for send in sends if in_window(send[0], longest, now)), key=lambda send: send[0])


def counted(sends: list[list[float]], now: float) -> list[float]:
    """When each send counts, oldest first: a send not finished yet may reach the provider now, however early
    its place."""
    return sorted(max(send[0], now) if len(send) > 2 else send[0] for send in sends)
