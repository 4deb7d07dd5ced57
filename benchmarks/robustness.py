"""Bad inputs through every public surface: does each raise an error that names it?

    python benchmarks/robustness.py [--surfaces pipeline model load savedmodel cli]

Runs the cases of `robustness_cases.py` and `robustness_served.py` (wrong dtype and
rank, NaN/inf, empty and mismatched batches, stereo / short / integer audio, non-image
and empty bytes, 8-bit and header-only WAV, directories as files, non-UTF-8 text, bad
numbers such as top_k=1.7 or num_classes=2.7, unknown presets and weights, tampered and
foreign weights folders, length_penalty=nan, empty retrieval queries, ...) through the
pipelines, direct model calls, `mmzoo.load`, the `mmzoo` command (a subprocess per case,
as a user runs it) and the exported SavedModels of the four shipped families:
sentiment_late/avdigits, vqa_san/easy_vqa, caption_sat/flickr8k and
retrieval_dual_encoder/flickr8k.

Each case gets one outcome:
- named_error: it raised, and the message names the input or argument (or the file);
  TensorFlow errors are judged on the one line `mmzoo` prints for them;
- unnamed_error: it raised without naming it (or the CLI printed a traceback);
- named_warning: it answered with a warning that names the problem (retrieval queries
  of unknown words only: the documented behaviour);
- correct_answer / wrong_answer: valid though unusual inputs (integer PCM, a stereo clip
  in a list) compared with the answer for the same input converted by hand;
- silent: it answered, without error or warning.

Writes benchmarks/results/robustness.json and the table in benchmarks/README.md.
"""

import argparse
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time
import types
import warnings

from readme_block import replace_block  # benchmarks/ is on sys.path
from results_file import save_results

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "robustness.json"
SURFACES = ("pipeline", "model", "load", "savedmodel", "cli")
SHIPPED = {"classifier": ("sentiment_late", "avdigits"), "vqa": ("vqa_san", "easy_vqa"),
           "captioner": ("caption_sat", "flickr8k"),
           "retriever": ("retrieval_dual_encoder", "flickr8k")}
OUTCOMES = ("named_error", "named_warning", "correct_answer", "unnamed_error",
            "wrong_answer", "silent")


def one_line(text, limit=160):
    text = re.sub(r"\s+", " ", str(text)).strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def error_message(error):
    """What a user reads: the one line `mmzoo` prints for TensorFlow errors, else the
    exception's type and message."""
    if type(error).__module__.startswith("tensorflow"):
        from mmzoo.preprocessing.batch import tf_error_message

        return f"{type(error).__name__}: {tf_error_message(error)}"
    text = str(error)
    if "in user code:" in text:  # an error raised while tracing: its own last line
        text = [line for line in text.splitlines() if line.strip()][-1].strip()
    return f"{type(error).__name__}: {text}"


def names_it(message, names):
    return any(name in message for name in names)


def run_case(case):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            answer = case.call()
        except Exception as error:  # noqa: BLE001 (every kind of failure is measured)
            message = error_message(error)
            return ("named_error" if names_it(message, case.names) else "unnamed_error",
                    message)
    if case.expect == "answer":
        return ("correct_answer", "same answer as the converted input") if answer is True \
            else ("wrong_answer", one_line(answer))
    for warning in caught:
        if names_it(str(warning.message), case.names):
            return "named_warning", f"{warning.category.__name__}: {warning.message}"
    return "silent", f"returned {one_line(repr(answer), 80)}"


def run_cli(argv, names, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-m", "mmzoo.cli", *argv], capture_output=True,
                            text=True, cwd=cwd, env=env, timeout=600, check=False)
    if result.returncode == 0:
        return "silent", f"exit 0: {one_line(result.stdout, 80)}"
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    if "Traceback (most recent call last)" in result.stderr:
        return "unnamed_error", f"traceback: {lines[-1] if lines else ''}"
    errors = [line for line in lines if "error:" in line]
    message = errors[-1] if errors else (lines[-1] if lines else f"exit {result.returncode}")
    return ("named_error" if names_it(message, names) else "unnamed_error"), message


def build_context(folder):
    import robustness_fixtures as fixtures
    import tensorflow as tf

    import mmzoo

    models = {family: mmzoo.load(preset, weights=weights)
              for family, (preset, weights) in SHIPPED.items()}
    served = {}
    for family, model in models.items():
        path = os.path.join(folder, "exported", family)
        mmzoo.export(model, path)
        served[family] = tf.saved_model.load(path)
    files = fixtures.write_files(folder)
    return types.SimpleNamespace(
        models=models, served=served, files=files,
        pipelines={family: mmzoo.pipeline(model) for family, model in models.items()},
        weights=fixtures.weights_folders(folder, models["classifier"]))


def run(surfaces, folder):
    import robustness_cases as cases
    import robustness_served as served

    started = time.time()
    ctx = build_context(folder)
    builders = {"pipeline": cases.pipeline_cases, "model": cases.model_cases,
                "load": cases.load_cases, "savedmodel": served.saved_model_cases}
    rows = []
    for surface in surfaces:
        if surface == "cli":
            for name, argv, names in served.cli_cases(ctx):
                outcome, message = run_cli(argv, names, folder)
                rows.append(_row("CLI", "mmzoo " + " ".join(argv[:2]), name, outcome,
                                 message))
                print(f"CLI  {name}: {outcome}  {one_line(message, 200)}", flush=True)
            continue
        for case in builders[surface](ctx):
            outcome, message = run_case(case)
            rows.append(_row(case.surface, case.target, case.name, outcome, message))
            print(f"{case.surface}  {case.target}  {case.name}: {outcome}  "
                  f"{one_line(message, 200)}", flush=True)
    return rows, time.time() - started


def _row(surface, target, name, outcome, message):
    return {"surface": surface, "target": target, "case": name, "outcome": outcome,
            "message": one_line(message, 300)}


def counts(rows):
    table = {}
    for row in rows:
        table.setdefault(row["surface"], {o: 0 for o in OUTCOMES})[row["outcome"]] += 1
    table["total"] = {o: sum(t[o] for t in table.values()) for o in OUTCOMES}
    return table


def readme_table(rows, seconds):
    totals = counts(rows)
    lines = ["| surface | cases | " + " | ".join(o.replace("_", " ") for o in OUTCOMES) + " |",
             "|---|---" + "|---" * len(OUTCOMES) + "|"]
    for surface, row in totals.items():
        label = f"**{surface}**" if surface == "total" else surface
        lines.append(f"| {label} | {sum(row.values())} | "
                     + " | ".join(str(row[o]) for o in OUTCOMES) + " |")
    bad = [r for r in rows if r["outcome"] in ("unnamed_error", "wrong_answer", "silent")]
    summary = (f"{len(rows)} cases in {seconds:.0f} s; {len(bad)} neither named nor "
               "correct" + "".join(f"; {r['surface']} {r['target']}: {r['case']}"
                                   for r in bad) + ".")
    lines += ["", summary, "",
              "| surface | target | case | outcome | message (first 120 characters) |",
              "|---|---|---|---|---|"]
    for r in rows:
        message = one_line(r["message"], 120).replace("|", "\\|")
        lines.append(f"| {r['surface']} | {r['target']} | {r['case']} | {r['outcome']} | "
                     f"{message} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--surfaces", nargs="+", choices=SURFACES, default=list(SURFACES))
    parser.add_argument("--no-write", action="store_true",
                        help="print the outcomes only (no results file, no README)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "benchmarks"))
    with tempfile.TemporaryDirectory() as folder:
        rows, seconds = run(args.surfaces, folder)
    table = counts(rows)
    for surface, row in table.items():
        print(surface, {k: v for k, v in row.items() if v})
    if args.no_write:
        return
    save_results(RESULTS, {"cases": rows, "counts": table, "seconds": round(seconds)})
    replace_block("robustness", readme_table(rows, seconds))


if __name__ == "__main__":
    main()
