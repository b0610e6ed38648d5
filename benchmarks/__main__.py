"""`make bench`: every benchmark in one run; a summary table, and docs/performance.md updated.

`python -m benchmarks --contended` runs only the burst of 1,000 events under CPU and disk load, and prints.
"""

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPORT = Path(__file__).resolve().parent.parent / "docs" / "performance.md"


def _idle(workspace, remote) -> None:
    """Wait until no app has a delivery job in hand, hanging up on any worker the silent robot holds."""
    from benchmarks import harness

    def idle() -> bool:
        remote.hang_up_all()
        return all(harness.jobs(app) == 0 for app in workspace.apps)

    harness.wait_until(idle, timeout=60, poll=0.05)


def main(argv: list[str]) -> int:
    folder = Path(tempfile.mkdtemp(prefix="herald-bench-"))
    # The app keeps its generated secret key in its instance folder: a throwaway one here.
    os.environ["HERALD_INSTANCE_PATH"] = str(folder / "instance")
    from benchmarks import bursts, case_list, contention, machine, mail, report, robot_cost, save_latency
    from benchmarks.harness import Workspace
    from benchmarks.servers import Remote

    sections = [
        ("case list with 10,000 cases", case_list),
        ("robot cost per message", robot_cost),
        ("mail to 200 recipients", mail),
        ("case save latency", save_latency),
        ("bursts against the rate limits", bursts),
    ]
    contended = "--contended" in argv
    if contended:
        sections = [("burst of 1,000 events under CPU and disk load", contention)]
    # --only robot_cost,mail: those sections alone, printed and not written to the report (a quick trial)
    only = argv[argv.index("--only") + 1].split(",") if "--only" in argv else None
    if only:
        sections = [(title, module) for title, module in sections if module.__name__.split(".")[-1] in only]
    started, load_before = time.perf_counter(), machine.load()
    results, errors = [], []
    try:
        with Remote() as remote:
            workspace = Workspace(folder)
            for title, module in sections:
                print(f"… {title}", flush=True)
                begun, logged = time.perf_counter(), len(workspace.errors.records)
                try:
                    results += module.run(workspace, remote)
                finally:
                    _idle(workspace, remote)
                    workspace.close()
                    errors += [(title, line) for line in workspace.errors.summary(since=logged)]
                print(f"  done in {time.perf_counter() - begun:.0f} s", flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    took = time.perf_counter() - started
    print()
    print(report.table(results))
    for result in results:
        if result.passed is False:
            print(f"MISSED {result.name}: {result.note or report.seconds(result.value)}")
    for title, line in errors:
        print(f"Herald logged, during the {title}: {line}")
    if contended or only:
        return 0
    section = report.markdown(results, errors, machine.details(), took, (load_before, machine.load()))
    report.write(REPORT, section)
    missed = [r.name for r in results if r.passed is False]
    print(
        f"\n{len(missed)} of {sum(r.passed is not None for r in results)} targets missed; took {took:.0f} s."
    )
    print(f"Written to {REPORT.relative_to(Path.cwd()) if REPORT.is_relative_to(Path.cwd()) else REPORT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
