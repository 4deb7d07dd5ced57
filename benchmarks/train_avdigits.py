"""Train every sentiment preset on AV-digits (clean and noisy) plus unimodal baselines.

    python benchmarks/train_avdigits.py --data-dir ../shared/data [--epochs 12] [--only sentiment_late]

Each run is `mmzoo train <preset> --data avdigits[/noisy] --modalities image,audio ...`
(unimodal baselines: sentiment_early with one modality), with the same seed. Weights
folders go to `runs/avdigits/<run>/`; results (test and validation accuracy, epochs,
seconds, the command) to `benchmarks/results/avdigits.json`, and the table to
`benchmarks/README.md` (between the avdigits markers).
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

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "avdigits.json"
FUSION_PRESETS = ["sentiment_early", "sentiment_late", "sentiment_hybrid",
                  "sentiment_attention", "sentiment_tfn", "sentiment_lmf", "sentiment_gmu",
                  "sentiment_mult"]
BASELINES = {"image_only": ("sentiment_early", "image"),
             "audio_only": ("sentiment_early", "audio")}
CONFIGS = {"clean": "avdigits", "noisy": "avdigits/noisy"}


def runs():
    for config in CONFIGS:
        for name, (preset, modality) in BASELINES.items():
            yield f"{name}_{config}", preset, modality, config
        for preset in FUSION_PRESETS:
            yield f"{preset}_{config}", preset, "image,audio", config


def command(preset, modalities, data, args, out):
    return ["mmzoo", "train", preset, "--data", data, "--data-dir", args.data_dir,
            "--modalities", modalities, "--epochs", str(args.epochs),
            "--batch-size", str(args.batch_size), "--patience", str(args.patience),
            "--seed", str(args.seed), "--set", "image_size=28",
            "--set", "audio_options={\"augment\": true}", "--out", os.path.relpath(out)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs-dir", default=str(ROOT / "runs" / "avdigits"))
    parser.add_argument("--only", nargs="*", help="run names or presets to (re)run")
    args = parser.parse_args()

    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for name, preset, modalities, config in runs():
        if args.only and name not in args.only and preset not in args.only:
            continue
        out = pathlib.Path(args.runs_dir) / name
        argv = command(preset, modalities, CONFIGS[config], args, out)
        print(f"== {name}: {shlex.join(argv)}", flush=True)
        started = time.time()
        completed = subprocess.run(argv, capture_output=True, text=True)
        if completed.returncode != 0:
            print(completed.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"{name} failed")
        metadata = json.loads((out / "metadata.json").read_text())
        results[name] = {
            "preset": preset, "modalities": modalities, "data": CONFIGS[config],
            "seed": args.seed, "epochs_run": len(metadata["history"]),
            "epochs_max": args.epochs, "seconds": round(time.time() - started, 1),
            "test_accuracy": metadata["metrics"]["test_accuracy"],
            "validation_accuracy": metadata["metrics"]["validation_accuracy"],
            "command": shlex.join(argv), "weights": os.path.relpath(out, ROOT),
        }
        print(f"   test accuracy {results[name]['test_accuracy']:.4f} "
              f"({results[name]['epochs_run']} epochs, {results[name]['seconds']} s)",
              flush=True)
        results = save_results(RESULTS, {name: results[name]})
    write_table(results)


def write_table(results):
    rows = ["| model | modalities | clean test acc. | noisy test acc. | epochs (clean / noisy) | seconds (clean / noisy) |",
            "|---|---|---|---|---|---|"]
    names = list(BASELINES) + FUSION_PRESETS
    for name in names:
        clean, noisy = results.get(f"{name}_clean"), results.get(f"{name}_noisy")
        if not clean and not noisy:
            continue
        first = clean or noisy
        cell = lambda r, k, f="{:.2%}": f.format(r[k]) if r else "-"  # noqa: E731
        rows.append(
            f"| {name} | {first['modalities'].replace(',', '+')} | "
            f"{cell(clean, 'test_accuracy')} | {cell(noisy, 'test_accuracy')} | "
            f"{cell(clean, 'epochs_run', '{}')} / {cell(noisy, 'epochs_run', '{}')} | "
            f"{cell(clean, 'seconds', '{:.0f}')} / {cell(noisy, 'seconds', '{:.0f}')} |")
    best_single = max((results[f"{b}_noisy"]["test_accuracy"] for b in BASELINES
                       if f"{b}_noisy" in results), default=None)
    fused = [(results[f"{p}_noisy"]["test_accuracy"], p) for p in FUSION_PRESETS
             if f"{p}_noisy" in results]
    summary = ""
    if best_single is not None and fused:
        best, preset = max(fused)
        worst, worst_preset = min(fused)
        summary = (f"\nOn avdigits/noisy the best fusion ({preset}, {best:.2%}) beats the best "
                   f"single modality ({best_single:.2%}) by {100 * (best - best_single):.2f} "
                   f"points; the weakest fusion ({worst_preset}, {worst:.2%}) by "
                   f"{100 * (worst - best_single):.2f} points.\n")
    replace_block("avdigits", "\n".join(rows) + "\n" + summary)


if __name__ == "__main__":
    main()
