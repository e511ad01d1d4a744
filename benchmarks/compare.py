"""Before and after, interleaved in one run: ``benchmarks.middleware`` of two trees.

Each round runs ``python -m benchmarks.middleware`` once in the earlier tree (``--before``,
e.g. a ``git worktree`` of the commit to compare with) and once in this one, alternately,
so that both see the same machine; every figure is the median over the rounds. Each tree
runs its own benchmark code against its own package, so a case only one of them has is
shown for that one only.

Run: python -m benchmarks.compare --before /path/to/older/tree [--rounds 3] [--quick]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
from pathlib import Path

from benchmarks.timing import machine

_NUMBER = re.compile(r"([0-9]+(?:\.[0-9]+)?) (µs|ms)")
Figures = dict[tuple[str, str], float]


def microseconds(cell: str) -> float | None:
    """The first time in a cell (``6.39 µs (9.91x, +5.75 µs)`` gives 6.39), in µs."""
    found = _NUMBER.search(cell)
    if found is None:
        return None
    return float(found.group(1)) * (1000.0 if found.group(2) == "ms" else 1.0)


def parse(output: str) -> Figures:
    """The per-request table (each cell minus the bare app of its row: what is added) and
    the sync steps (``- label: 80.30 µs``) of one ``benchmarks.middleware`` run."""
    figures: Figures = {}
    header: list[str] = []
    for line in output.splitlines():
        if line.startswith("| case |"):
            header = [cell.strip() for cell in line.strip("|").split("|")]
        elif line.startswith("| ") and header and not line.startswith("|---"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            bare = microseconds(cells[1]) if len(cells) > 1 else None
            if header[1] != "bare app" or bare is None:
                continue
            for column, cell in zip(header[2:], cells[2:], strict=False):
                value = microseconds(cell)
                if value is not None and column.startswith("+ "):
                    figures[(cells[0], f"{column}, added")] = value - bare
        elif line.startswith("- ") and ":" in line:
            label, _, value_text = line[2:].rpartition(":")
            value = microseconds(value_text)
            if value is not None:
                figures[("sync step", label.strip())] = value
    return figures


def run(tree: Path, extra: list[str]) -> Figures:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.middleware", *extra],
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
    )
    return parse(done.stdout)


def median_of(runs: list[Figures]) -> Figures:
    keys = dict.fromkeys(key for figures in runs for key in figures)
    return {key: statistics.median(f[key] for f in runs if key in f) for key in keys}


def report(before: Figures, after: Figures) -> str:
    lines = ["| case | measure | before | after | change |", "|---|---|---|---|---|"]
    order = list(dict.fromkeys([*after, *before]))
    for key in order:
        old, new = before.get(key), after.get(key)
        change = f"{(new - old) / old * 100:+.0f} %" if old and new is not None and old > 0 else "—"
        lines.append(
            f"| {key[0]} | {key[1]} | {'—' if old is None else f'{old:.2f} µs'} | "
            f"{'—' if new is None else f'{new:.2f} µs'} | {change} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the earlier tree (a checkout)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--quick", action="store_true", help="pass --quick to each run")
    args = parser.parse_args()
    extra = ["--quick"] if args.quick else []
    here = Path(__file__).resolve().parent.parent
    commit = subprocess.run(
        ["git", "-C", str(args.before), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    befores: list[Figures] = []
    afters: list[Figures] = []
    for _ in range(args.rounds):
        befores.append(run(args.before.resolve(), extra))
        afters.append(run(here, extra))
    print(f"benchmarks.middleware, before ({commit or args.before}) and after, {args.rounds} interleaved rounds")
    print(f"({machine()}); 'added' = the case minus the bare app of the same run\n")
    print(report(median_of(befores), median_of(afters)))


if __name__ == "__main__":
    main()
