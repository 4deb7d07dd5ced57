"""Wall time of the commands a newcomer types first: `mmzoo --help`, `list`, `describe`.

    python benchmarks/cli_startup.py                      # this checkout, label "current"
    python benchmarks/cli_startup.py --repo /tmp/old --label "before (d09c799)"

Each command runs `--runs` times in a fresh process (`python -m mmzoo.cli ...` with
PYTHONPATH set to the checkout measured); the median is recorded, with whether the
process imported TensorFlow. Writes benchmarks/results/cli_startup.json (one entry per
label, other labels kept) and the table in benchmarks/README.md.
"""

import argparse
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

from readme_block import replace_block  # benchmarks/ is on sys.path
from results_file import save_results

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "cli_startup.json"
COMMANDS = [["--help"], ["list"], ["describe", "sentiment_late"]]

# Runs the CLI in-process after recording the time, then reports whether TensorFlow
# was imported (the CLI itself prints to a pipe the benchmark discards).
_PROBE = """
import sys
from mmzoo.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
sys.stderr.write("\\ntensorflow imported: %s\\n" % ("tensorflow" in sys.modules))
"""


def time_command(args, repo, runs):
    """(median seconds, every run's seconds, whether TensorFlow was imported)."""
    env = {**os.environ, "PYTHONPATH": str(repo)}
    env.pop("MMZOO_VERBOSE", None)
    seconds, imported = [], None
    with tempfile.TemporaryDirectory() as empty:  # `-c` puts the working folder first
        for _ in range(runs):
            started = time.perf_counter()
            result = subprocess.run([sys.executable, "-c", _PROBE, *args], env=env,
                                    cwd=empty, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, text=True, timeout=600)
            seconds.append(time.perf_counter() - started)
            imported = "tensorflow imported: True" in result.stderr
    return statistics.median(seconds), seconds, imported


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", default=str(ROOT), help="checkout to measure")
    parser.add_argument("--label", default="current")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    entry = {"machine": f"{os.cpu_count()} CPU cores, Python {sys.version.split()[0]}",
             "runs": args.runs, "commands": {}}
    for command in COMMANDS:
        median, seconds, imported = time_command(command, args.repo, args.runs)
        name = "mmzoo " + " ".join(command)
        entry["commands"][name] = {"median_s": round(median, 3),
                                   "runs_s": [round(s, 3) for s in seconds],
                                   "imports_tensorflow": imported}
        print(f"{name:<32} {median:7.3f} s  tensorflow imported: {imported}", flush=True)
    write_table(save_results(RESULTS, {args.label: entry}))


def write_table(results):
    labels = list(results)
    names = [" ".join(["mmzoo", *command]) for command in COMMANDS]
    rows = ["| command | " + " | ".join(labels) + " |",
            "|---|" + "---|" * len(labels)]
    for name in names:
        cells = []
        for label in labels:
            measured = results[label]["commands"].get(name)
            cells.append("-" if measured is None else
                         f"{measured['median_s']:.2f} s" +
                         (" (imports TensorFlow)" if measured["imports_tensorflow"] else ""))
        rows.append(f"| `{name}` | " + " | ".join(cells) + " |")
    replace_block("cli_startup", "\n".join(rows))


if __name__ == "__main__":
    main()
