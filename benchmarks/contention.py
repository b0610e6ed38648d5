"""`python -m benchmarks --contended`: the burst of 1,000 events while other processes load CPU and disk.

Not part of `make bench`: it shows what a busy machine (another test suite, a backup) does to delivery, and
the numbers it prints are not written to docs/performance.md.
"""

import multiprocessing
import os
import time
from contextlib import contextmanager
from pathlib import Path

LIMIT = 240.0  # seconds: the load stops by itself even if the parent dies


def _spin(stop, deadline: float) -> None:
    while not stop.is_set() and time.time() < deadline:
        sum(range(10_000))


def _write(stop, deadline: float, path: str) -> None:
    """Rewrite 1 MiB and fsync it, again and again: what a busy database or backup does to the disk."""
    block = os.urandom(1 << 20)
    with open(path, "wb") as file:
        while not stop.is_set() and time.time() < deadline:
            file.seek(0)
            file.write(block)
            file.flush()
            os.fsync(file.fileno())
    os.unlink(path)


@contextmanager
def load(folder: Path):
    """One process keeping a core busy and one keeping the disk busy, for the length of the block."""
    context = multiprocessing.get_context("spawn")
    stop, deadline = context.Event(), time.time() + LIMIT
    processes = [
        context.Process(target=_spin, args=(stop, deadline), daemon=True),
        context.Process(target=_write, args=(stop, deadline, str(folder / "contention.bin")), daemon=True),
    ]
    for process in processes:
        process.start()
    try:
        yield
    finally:
        stop.set()
        for process in processes:
            process.join(timeout=10)


def run(workspace, remote) -> list:
    from benchmarks import bursts

    with load(workspace.folder):
        return [bursts.thousand(workspace, remote)]
