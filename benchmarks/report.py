"""The summary: a table on the terminal, and the measured part of docs/performance.md."""

import math
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.harness import Result

START = "<!-- benchmark results: written by `make bench`, do not edit by hand -->"
END = "<!-- end of benchmark results -->"
PREAMBLE = """# Performance

`make bench` measures delivery and the pages that matter, side by side in one run, and writes the part of this
file between the two markers below; the analysis after them is written by hand from the same run.

"""


def seconds(value: float) -> str:
    if math.isinf(value) or math.isnan(value):
        return "not reached"
    if value < 1:
        return f"{value * 1000:.2f} ms" if value < 0.01 else f"{value * 1000:.1f} ms"
    return f"{value:.2f} s"


def ratio(result: Result) -> str:
    return f"{result.ratio:.2f}×" if result.ratio is not None else ""


def target(result: Result) -> str:
    if result.target is None:
        return ""
    if result.floor is None:  # an absolute limit, in seconds
        return f"≤ {seconds(result.target)}"
    return f"≤ {result.target:g}×"


def verdict(result: Result) -> str:
    return {True: "met", False: "MISSED", None: ""}[result.passed]


def spread(result: Result) -> str:
    runs = [r for r in result.runs if not math.isnan(r)]
    if len(runs) < 2:
        return ""
    return f"{seconds(min(runs))} – {seconds(max(runs))}"


COLUMNS = ("Measure", "Median", "Against", "Ratio", "Target", "Verdict")


def rows(results: list[Result]) -> list[tuple[str, ...]]:
    return [(r.name, seconds(r.value), r.floor_name, ratio(r), target(r), verdict(r)) for r in results]


def table(results: list[Result]) -> str:
    """A plain table for the terminal."""
    lines = [COLUMNS, *rows(results)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS))]
    text = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)) for line in lines]
    text.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(text)


def markdown(
    results: list[Result],
    errors: list[tuple[str, str]],
    machine: list[tuple[str, str]],
    took: float,
    loads: tuple[str, str],
) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [START, "", f"## Results of the last run ({when}, {took:.0f} s)", ""]
    out += ["| " + " | ".join(COLUMNS) + " | Spread of the rounds |", "|" + "---|" * (len(COLUMNS) + 1)]
    for result, row in zip(results, rows(results), strict=True):
        cells = [*row[:-1], f"**{row[-1]}**" if row[-1] == "MISSED" else row[-1], spread(result)]
        out.append("| " + " | ".join(cell.replace("|", "/") for cell in cells) + " |")
    missed = [r for r in results if r.passed is False]
    out += ["", "### Targets missed in this run", ""]
    out += [f"- **{r.name}**: {_measured(r)}" for r in missed] or ["None."]
    out += ["", "### Errors Herald logged during the run", ""]
    out += [f"- During the {title}: {line}" for title, line in errors] or ["None."]
    out += ["", "### Notes on each measure", ""]
    out += [f"- {r.name}: {r.note}" for r in results if r.note]
    out += ["", "### Machine", "", "| | |", "|---|---|"]
    out += [f"| {name} | {value} |" for name, value in machine]
    out += [f"| Load average (1/5/15 min) | {loads[0]} at the start, {loads[1]} at the end |", "", END]
    return "\n".join(out)


def _measured(result: Result) -> str:
    if result.ratio is not None and result.target is not None:
        return f"{ratio(result)} against {result.floor_name} (target ≤ {result.target:g}×)."
    if result.target is not None:
        return f"{seconds(result.value)} (target ≤ {seconds(result.target)}); {result.note}."
    return f"{result.note}."


def write(path: Path, section: str) -> None:
    """Replace the measured part of the file, keeping what is written by hand around it."""
    text = path.read_text() if path.exists() else PREAMBLE + START + "\n" + END + "\n"
    if START in text and END in text:
        before, rest = text.split(START, 1)
        after = rest.split(END, 1)[1]
        text = before + section + after
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    path.write_text(text)
