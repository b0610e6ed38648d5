"""What the numbers were measured on: processor, cores, memory, Python, SQLite, libraries, load."""

import os
import platform
import sqlite3
import subprocess
from importlib import metadata
from pathlib import Path

LIBRARIES = (
    "Flask",
    "SQLAlchemy",
    "Flask-SQLAlchemy",
    "Flask-Mail",
    "requests",
    "urllib3",
    "orjson",
    "aiosmtpd",
    "apprise",
)
ROOT = Path(__file__).resolve().parent.parent


def _lscpu() -> dict[str, str]:
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {}
    pairs = (line.split(":", 1) for line in text.splitlines() if ":" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def _meminfo() -> dict[str, str]:
    try:
        lines = Path("/proc/meminfo").read_text().splitlines()
    except OSError:
        return {}
    return {line.split(":")[0]: line.split(":", 1)[1].strip() for line in lines if ":" in line}


def _gib(kilobytes: str) -> str:
    try:
        return f"{int(kilobytes.split()[0]) / 1024**2:.1f} GiB"
    except (ValueError, IndexError):
        return "?"


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def details() -> list[tuple[str, str]]:
    """(what, value) rows for the report."""
    cpu, memory = _lscpu(), _meminfo()
    versions = []
    for name in LIBRARIES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    changed = _git("status", "--porcelain", "--", "webapp", "migrations")
    commit = _git("rev-parse", "--short", "HEAD") or "?"
    return [
        ("CPU", cpu.get("Model name", platform.processor() or "?")),
        ("Cores", f"{os.cpu_count()} ({cpu.get('Thread(s) per core', '?')} thread(s) per core)"),
        ("Hypervisor", cpu.get("Hypervisor vendor", "none")),
        (
            "Memory",
            f"{_gib(memory.get('MemTotal', ''))} total, {_gib(memory.get('MemAvailable', ''))} available",
        ),
        ("OS", f"{platform.system()} {platform.release()}"),
        ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("SQLite", f"{sqlite3.sqlite_version} (default journal mode, a file on the local disk)"),
        ("Libraries", ", ".join(versions)),
        (
            "Code",
            f"commit {commit}" + (" with uncommitted changes in webapp/ or migrations/" if changed else ""),
        ),
    ]
