"""Train the VQA presets on easy-VQA and Sort-of-CLEVR next to their floors.

    python benchmarks/train_vqa.py --data-dir ../shared/data [--only easy_vqa/vqa_san]
    python benchmarks/train_vqa.py --floors-only      # the floors, then the table
    python benchmarks/train_vqa.py --readme-only      # rewrite the table from the results
    python benchmarks/train_vqa.py --ship easy_vqa/vqa_san sort_of_clevr/vqa_rn

Each run is one `mmzoo train <preset> --data <data set> ...` command (see RUNS), with
seed 0 (a run whose folder holds a finished run is not repeated); its weights folder goes to `runs/vqa/<data set>/<run>/` and its metrics on the
reported split (easy-VQA: validation, the shared folder has no test/; Sort-of-CLEVR:
test), epochs, training seconds, parameters and command to
`benchmarks/results/vqa.json`. The floors (always the most frequent training answer;
a question-only model, `--modalities question`) are measured on the same splits.
The table goes to `benchmarks/README.md` between the vqa markers, with the predict
throughput of `benchmarks/vqa_throughput.py` when its results exist. `--ship` copies
run folders to `weights/<preset>/<data set>/` and refreshes `weights/manifest.json`.
"""

import argparse
import json
import os
import pathlib
import shlex
import subprocess
import sys
import time

from readme_block import replace_block  # benchmarks/ is on sys.path
from results_file import save_results

from mmzoo.weights import shipped_weights

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "vqa.json"
THROUGHPUT = ROOT / "benchmarks" / "results" / "vqa_throughput.json"

# The split each data set is reported on, and the `--data-dir` of its source folder.
REPORTED_SPLIT = {"easy_vqa": "validation", "sort_of_clevr": "test"}
SOURCE = {"easy_vqa": "easy_vqa", "sort_of_clevr": None}  # sort_of_clevr is generated

# run name -> (preset, data set, extra `mmzoo train` arguments)


def _schedule(epochs, learning_rate, patience):
    return ["--epochs", str(epochs), "--batch-size", "64", "--learning-rate",
            str(learning_rate), "--patience", str(patience)]


EASY = _schedule(17, 1e-3, 4)
QUESTION_ONLY = ["--modalities", "question"]
CLEVR_4000 = ["--data-option",
              'num_images={"train": 4000, "validation": 200, "test": 200}']
RUNS = {
    "easy_vqa/question_only": ("vqa_concat", "easy_vqa", EASY + QUESTION_ONLY),
    "easy_vqa/vqa_concat": ("vqa_concat", "easy_vqa", EASY),
    "easy_vqa/vqa_san": ("vqa_san", "easy_vqa", EASY),
    "easy_vqa/vqa_mfb": ("vqa_mfb", "easy_vqa", EASY),
    "easy_vqa/vqa_rn": ("vqa_rn", "easy_vqa", EASY),
    # The full Sort-of-CLEVR train split (9,800 images, 196,000 questions) is about
    # 25 minutes an epoch for the RN on this machine: the runs train on its first 4,000
    # images (80,000 questions) for a few epochs, and are tested on the full test split.
    "sort_of_clevr/question_only": ("vqa_concat", "sort_of_clevr",
                                    _schedule(3, 1e-3, 2) + QUESTION_ONLY + CLEVR_4000),
    "sort_of_clevr/vqa_concat": ("vqa_concat", "sort_of_clevr",
                                 _schedule(4, 1e-3, 2) + CLEVR_4000),
    "sort_of_clevr/vqa_rn": ("vqa_rn", "sort_of_clevr", _schedule(4, 1e-3, 2) + CLEVR_4000),
}

ANCHORS = """\
Reference points (`../shared/ANCHORS.md`; not measured by this script):

| what | figure | split |
|---|---|---|
| easy-VQA Keras baseline (vzhou842/easy-VQA-keras), measured on a machine like ours | 82.5% after its 8 default epochs (3 runs, 82.4-82.8); ~5-6 min training; ~1,600 questions/s predict at batch 64 | easy-VQA **test** split |
| easy-VQA Keras baseline, published | 93.78% (one 2020 run) | easy-VQA **test** split |
| easy-VQA floors | always "yes": 37.3%; question-only: 67.0% | easy-VQA **test** split |
| Sort-of-CLEVR, Santoro et al. 2017 | CNN+RN above 94% on relational and non-relational questions; CNN+MLP 63% on relational | paper's test set |

Our easy-VQA figures are on the **validation** split (3,732 questions of 387 images that
the loader holds out of the shared train folder by image id; the shared folder has no
test/), so they are not the same questions as the anchors' test split; the floors show
how alike the two splits are."""


def command(run, args):
    preset, data, extra = RUNS[run]
    argv = ["mmzoo", "train", preset, "--data", data]
    if SOURCE[data]:
        argv += ["--data-dir", str(pathlib.Path(args.data_dir) / SOURCE[data])]
    return argv + extra + ["--seed", str(args.seed),
                           "--out", os.path.relpath(pathlib.Path(args.runs_dir) / run)]


def count_parameters(folder):
    import mmzoo
    from mmzoo.weights import read_folder_config

    preset = read_folder_config(folder)["preset"]
    return int(mmzoo.load(preset, weights=str(folder), compile=False).count_params())


def train(run, args, results):
    """Trains `run` unless its folder holds a finished run, and records its metrics."""
    argv = command(run, args)
    out = pathlib.Path(args.runs_dir) / run
    started, trained = time.time(), not (out / "metadata.json").exists()
    if not trained:
        print(f"== {run}: finished run in {out}", flush=True)
    else:
        print(f"== {run}: {shlex.join(argv)}", flush=True)
        completed = subprocess.run(argv, capture_output=True, text=True)
        if completed.returncode != 0:
            print(completed.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"{run} failed")
    metadata = json.loads((out / "metadata.json").read_text())
    preset, data, _ = RUNS[run]
    split = REPORTED_SPLIT[data]
    metrics = {key[len(split) + 1:]: value for key, value in metadata["metrics"].items()
               if key.startswith(split + "_")}
    results[run] = {
        "preset": preset, "data": data, "split": split,
        "modalities": "question" if "--modalities" in argv else "image+question",
        "metrics": metrics, "validation_accuracy": metadata["metrics"].get(
            "validation_accuracy"),
        "epochs_run": len(metadata["history"]),
        # A resumed run's clock covers only its last invocation: not comparable.
        "train_seconds": None if metadata.get("resumed_from_epoch")
        else metadata["train_seconds_this_run"],
        "resumed_from_epoch": metadata.get("resumed_from_epoch"),
        "wall_seconds": round(time.time() - started, 1) if trained else None,
        "parameters": count_parameters(out),
        "weights_bytes": (out / "model.weights.h5").stat().st_size,
        "command": shlex.join(argv), "weights": os.path.relpath(out, ROOT),
    }
    print(f"   {split} accuracy {metrics['accuracy']:.4f} "
          f"({results[run]['epochs_run']} epochs, {results[run]['train_seconds']} s)",
          flush=True)


def floors(args, results):
    """Always answering the most frequent training answer, on the reported splits."""
    import mmzoo.datasets as mds
    from mmzoo.tasks.vqa import metrics

    for data, split in REPORTED_SPLIT.items():
        source = pathlib.Path(args.data_dir) / SOURCE[data] if SOURCE[data] else None

        def answers(part):
            dataset = mds.load(data, part, data_dir=source)
            rows = [(y, bool(x.get("relational", False))) for x, y in
                    dataset.map(lambda x, y: ({k: v for k, v in x.items()
                                               if k == "relational"}, y)).as_numpy_iterator()]
            return [y.decode() for y, _ in rows], [r for _, r in rows]

        train_answers, _ = answers("train")
        truth, relational = answers(split)
        answer, _ = metrics.most_frequent_answer_accuracy(train_answers, truth)
        values = metrics.vqa_metrics(truth, [answer] * len(truth),
                                     relational if data == "sort_of_clevr" else None)
        results[f"{data}/most_frequent"] = {"data": data, "split": split, "answer": answer,
                                            "metrics": values}
        print(f"== {data}: always {answer!r}: {values['accuracy']:.4f} on {split}")


def ship(runs, args):
    from mmzoo.training import ship_folder

    for run in runs:
        preset, data, _ = RUNS[run]
        source = pathlib.Path(args.runs_dir) / run
        target = ship_folder(source, preset, data, root=ROOT / "weights")
        print(f"shipped {source} -> {target}")


def _seconds(row):
    if "command" not in row:
        return "-"
    seconds = row.get("train_seconds")
    return "resumed" if seconds is None else f"{seconds:,.0f}"


def _pct(value):
    return "-" if value is None else f"{100 * value:.2f}%"


def write_readme(results):
    lines = [
        "## Visual question answering",
        "",
        "`python benchmarks/train_vqa.py --data-dir ../shared/data` trains every VQA preset "
        "with `mmzoo train` (seed 0, Adam, batch 64, early stopping on the validation "
        "loss restoring the best epoch), and measures the floors on the same split: "
        "always answering the most frequent training answer, and a question-only model "
        "(`vqa_concat --modalities question`: the same question encoder and head, no "
        "image). easy-VQA: at most 17 epochs (patience 4), learning rate 1e-3, reported "
        "on **validation**. Sort-of-CLEVR (20 questions an image, half of them "
        "relational): trained on the first 4,000 of the 9,800 training images for a "
        "few epochs (the CPU budget; see the commands), reported on the **test** split "
        "(200 images, 4,000 questions). "
        "Seconds are training time on this machine (2 CPU cores), with the lead's and "
        "other jobs sometimes sharing them; parameters count every weight.",
        "",
        "| data set (split) | model | accuracy | yes/no | other | relational | "
        "non-relational | epochs | train s | parameters | command |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    order = ["most_frequent", "question_only", "vqa_concat", "vqa_san", "vqa_mfb", "vqa_rn"]
    shipped = shipped_weights()
    for data in REPORTED_SPLIT:
        for name in order:
            row = results.get(f"{data}/{name}")
            if not row:
                continue
            m = row["metrics"]
            label = (f"floor: always \"{row['answer']}\"" if name == "most_frequent" else
                     "floor: question only" if name == "question_only" else name)
            if data in shipped.get(name, ()):
                label += " (shipped)"
            lines.append(
                f"| {data} ({row['split']}) | {label} | {_pct(m['accuracy'])} | "
                f"{_pct(m.get('yes_no_accuracy'))} | {_pct(m.get('other_accuracy'))} | "
                f"{_pct(m.get('relational_accuracy'))} | "
                f"{_pct(m.get('non_relational_accuracy'))} | {row.get('epochs_run', '-')} | "
                f"{_seconds(row)} | "
                f"{'{:,}'.format(row['parameters']) if 'parameters' in row else '-'} | "
                + (f"`{row['command']}`" if "command" in row
                   else "`python benchmarks/train_vqa.py --floors-only`") + " |")
    lines += ["", ANCHORS]
    floor = results.get("easy_vqa/most_frequent")
    question_only = results.get("easy_vqa/question_only")
    if floor:
        lines[-1] += (f" Always \"{floor['answer']}\": {_pct(floor['metrics']['accuracy'])} "
                      "on our validation split, 37.3% on the anchors' test split")
        if question_only:
            lines[-1] += (f"; question only: {_pct(question_only['metrics']['accuracy'])} "
                          "here, 67.0% there")
        lines[-1] += "."
    lines.append("")
    if THROUGHPUT.exists():
        speed = json.loads(THROUGHPUT.read_text())
        lines += [
            f"Predict throughput (`python benchmarks/vqa_throughput.py`): questions per "
            f"second of `model.predict` at batch {speed['batch_size']} on "
            f"{speed['examples']:,} easy-VQA-sized inputs (64x64 images), median of "
            f"{speed['repeats']} passes after a warm-up; the easy-VQA Keras baseline "
            "does ~1,600 questions/s the same way.",
            "",
            "| model | questions/s | parameters |",
            "|---|---|---|",
        ]
        for preset, row in speed["presets"].items():
            lines.append(f"| {preset} | {row['questions_per_second']:,.0f} | "
                         f"{row['parameters']:,} |")
        lines.append("")
    replace_block("vqa", "\n".join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs-dir", default=str(ROOT / "runs" / "vqa"))
    parser.add_argument("--only", nargs="*", help="run names (or presets) to (re)run")
    parser.add_argument("--floors-only", action="store_true")
    parser.add_argument("--readme-only", action="store_true")
    parser.add_argument("--ship", nargs="*", help="run names to copy to weights/")
    args = parser.parse_args()

    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if args.ship:
        ship(args.ship, args)
        return
    if not args.readme_only:
        if args.floors_only or not args.only:
            floors(args, results)
        if not args.floors_only:
            for run, (preset, _, _) in RUNS.items():
                if args.only and run not in args.only and preset not in args.only:
                    continue
                train(run, args, results)
                results = save_results(RESULTS, {run: results[run]})
        results = save_results(RESULTS, {k: v for k, v in results.items()
                                if k.endswith("/most_frequent")})
    write_readme(results)


if __name__ == "__main__":
    main()
