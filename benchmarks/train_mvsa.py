"""Train the sentiment family on MVSA-Single (tweet text + image) with pretrained encoders.

    python benchmarks/train_mvsa.py --data-dir ../shared/data [--only sentiment_late] [--seeds 0 1 2]

Every run is one `mmzoo train` command: MiniLM (text) and EfficientNet-Lite0 (image),
both frozen (`--freeze-backbones`), their outputs cached once per data set in
`runs/mvsa/feature_cache` and shared by the runs; the fusion and head train on them.
Unimodal baselines use `sentiment_early` with one modality. Results (accuracy, weighted
and macro F1 on validation and test, per seed) go to `benchmarks/results/mvsa.json`,
the table (mean and spread over seeds, the floors and the published results) to
`benchmarks/README.md` between the mvsa markers.
"""

import argparse
import json
import os
import pathlib
import shlex
import subprocess
import sys
import time

import numpy as np
from readme_block import replace_block  # benchmarks/ is on sys.path
from results_file import save_results

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "mvsa.json"
FUSIONS = ["sentiment_early", "sentiment_late", "sentiment_hybrid", "sentiment_attention",
           "sentiment_tfn", "sentiment_lmf", "sentiment_gmu", "sentiment_mult"]
BASELINES = {"text_only": ("sentiment_early", "text"),
             "image_only": ("sentiment_early", "image")}
ENCODERS = ["--set", "text_backbone=minilm", "--set", 'text_options={"weights": "pretrained"}',
            "--set", "image_backbone=efficientnet_lite0", "--set", "image_weights=imagenet",
            "--set", "image_size=224"]
# Published accuracy / weighted F1 on MVSA-Single (random 8:1:1 splits), shared/data README.
PUBLISHED = [("HSAN", 66.83, 66.90), ("MultiSentiNet", 69.84, 69.63),
             ("CoMN (6 hops)", 70.51, 70.01), ("FeNet-GloVe", 72.54, 72.32),
             ("MGNNS", 73.77, 72.70), ("CLMLF (BERT + ResNet, fine-tuned)", 75.33, 73.46)]


def runs():
    for name, (preset, modality) in BASELINES.items():
        yield name, preset, modality
    for preset in FUSIONS:
        yield preset, preset, "text,image"


def command(preset, modalities, seed, args, out):
    return ["mmzoo", "train", preset, "--data", "mvsa_single", "--data-dir", args.data_dir,
            "--modalities", modalities, *ENCODERS, "--freeze-backbones",
            "--feature-cache", os.path.relpath(args.feature_cache),
            "--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
            "--patience", str(args.patience), "--learning-rate", str(args.learning_rate),
            "--seed", str(seed), "--out", os.path.relpath(out), *args.extra]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--patience", type=int, default=6)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--seeds", type=int, nargs="*", default=[0])
    parser.add_argument("--runs-dir", default=str(ROOT / "runs" / "mvsa"))
    parser.add_argument("--feature-cache", default=str(ROOT / "runs" / "mvsa" / "feature_cache"))
    parser.add_argument("--only", nargs="*", help="run names or presets to (re)run")
    parser.add_argument("--tag", default="", help="suffix of the run names (variants)")
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[],
                        help="more `mmzoo train` arguments, e.g. --set head_units=[256]")
    args = parser.parse_args()

    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for name, preset, modalities in runs():
        if args.only and name not in args.only and preset not in args.only:
            continue
        for seed in args.seeds:
            key = f"{name}{args.tag}/seed{seed}"
            out = pathlib.Path(args.runs_dir) / f"{name}{args.tag}_seed{seed}"
            argv = command(preset, modalities, seed, args, out)
            print(f"== {key}: {shlex.join(argv)}", flush=True)
            started = time.time()
            completed = subprocess.run(argv, capture_output=True, text=True)
            if completed.returncode != 0:
                print(completed.stderr[-3000:], file=sys.stderr)
                raise SystemExit(f"{key} failed")
            metadata = json.loads((out / "metadata.json").read_text())
            metrics = metadata["metrics"]
            results[key] = {
                "run": f"{name}{args.tag}", "preset": preset, "modalities": modalities,
                "seed": seed, "epochs_run": len(metadata["history"]),
                "seconds": round(time.time() - started, 1),
                **{k: v for k, v in metrics.items() if k.split("_", 1)[1] in (
                    "accuracy", "f1_weighted", "f1_macro")},
                "command": shlex.join(argv), "weights": os.path.relpath(out, ROOT),
            }
            print(f"   test accuracy {metrics['test_accuracy']:.4f}, weighted F1 "
                  f"{metrics['test_f1_weighted']:.4f} ({results[key]['epochs_run']} epochs, "
                  f"{results[key]['seconds']} s)", flush=True)
            results = save_results(RESULTS, {key: results[key]})
    write_table(results, args.data_dir)


def _floor(data_dir):
    """Majority-class accuracy and weighted F1 on validation and test (the train split's
    most frequent class)."""
    import mmzoo.datasets as mds

    counts = {}
    for split in ("train", "validation", "test"):
        _, info = mds.load("mvsa_single", split, data_dir, with_info=True)
        counts[split] = info["class_counts"][split]
    majority = max(counts["train"], key=counts["train"].get)
    floor = {}
    for split in ("validation", "test"):
        total = sum(counts[split].values())
        share = counts[split][majority] / total
        floor[split] = (share, share * (2 * share / (1 + share)))  # F1 of the majority class
    return majority, floor


def write_table(results, data_dir):
    by_run = {}
    for entry in results.values():
        by_run.setdefault(entry["run"], []).append(entry)
    rows = ["| model | modalities | seeds | val. acc. | val. weighted F1 | test acc. | "
            "test weighted F1 | test macro F1 | epochs |",
            "|---|---|---|---|---|---|---|---|---|"]

    def cell(entries, key):
        values = 100 * np.array([e[key] for e in entries])
        if len(values) == 1:
            return f"{values[0]:.2f}"
        return f"{values.mean():.2f} ± {values.std(ddof=1):.2f}"

    order = list(BASELINES) + FUSIONS
    for run in sorted(by_run, key=lambda r: (order.index(r.split("_v")[0])
                                             if r.split("_v")[0] in order else 99, r)):
        entries = by_run[run]
        rows.append(
            f"| {run} | {entries[0]['modalities'].replace(',', ' + ')} | {len(entries)} | "
            f"{cell(entries, 'validation_accuracy')} | {cell(entries, 'validation_f1_weighted')} "
            f"| {cell(entries, 'test_accuracy')} | {cell(entries, 'test_f1_weighted')} | "
            f"{cell(entries, 'test_f1_macro')} | "
            f"{round(np.mean([e['epochs_run'] for e in entries]))} |")
    majority, floor = _floor(data_dir)
    rows.append(f"| always '{majority}' (floor) | - | - | {100 * floor['validation'][0]:.2f} | "
                f"{100 * floor['validation'][1]:.2f} | {100 * floor['test'][0]:.2f} | "
                f"{100 * floor['test'][1]:.2f} | - | - |")
    for name, acc, f1 in PUBLISHED:
        rows.append(f"| {name} (published) | text + image | - | - | - | {acc:.2f} | {f1:.2f} "
                    "| - | - |")
    replace_block("mvsa", "\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
