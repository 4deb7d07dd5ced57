"""Train both retrieval presets on Flickr8k and compare them with chance.

    python benchmarks/train_retrieval.py [--data-dir ../shared/data/flickr8k_1k]
        [--epochs 200] [--patience 20] [--batch-size 32] [--only retrieval_siglip] [--ship]

Each run is `mmzoo train <preset> --data flickr8k ... --data-option image_size=64` with
seed 0 (weights folders in `runs/retrieval/<preset>/`; a finished run is not repeated).
Next to them: the exact random-ranking floor for the split sizes
(`mmzoo.tasks.retrieval.metrics.random_ranking_floor`) and an untrained model of each preset
(its vocabulary built from the training captions) evaluated the same way. `--ship` copies
the preset with the better validation R-sum (the six recalls added) to
`weights/<preset>/flickr8k/` and refreshes `weights/manifest.json`.

Writes benchmarks/results/retrieval.json and the table in benchmarks/README.md.
"""

import argparse
import json
import os
import pathlib
import shlex
import subprocess
import sys

from readme_block import replace_block  # benchmarks/ is on sys.path

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "retrieval.json"
PRESETS = ("retrieval_dual_encoder", "retrieval_siglip")
RECALLS = ("i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10")
COLUMNS = RECALLS + ("i2t_medr", "t2i_medr")


def train_command(preset, args, out):
    script = pathlib.Path(sys.executable).parent / "mmzoo"
    return [str(script) if script.exists() else "mmzoo", "train", preset, "--data", "flickr8k", "--data-dir", args.data_dir,
            "--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
            "--patience", str(args.patience), "--learning-rate", str(args.learning_rate),
            "--seed", str(args.seed), "--data-option", "image_size=64",
            "--out", os.path.relpath(out, ROOT)]


def random_model(preset, data_dir, seed):
    """Metrics of the untrained preset (vocabulary from the training captions)."""
    import keras

    import mmzoo
    from mmzoo.training import load_split

    keras.utils.set_random_seed(seed)
    model = mmzoo.load(preset, compile=False)
    options = model.dataset_options()
    train, _ = load_split("flickr8k", "train", data_dir, 64, options)
    model.adapt_to_dataset(train)
    return {split: model.evaluate_dataset(load_split("flickr8k", split, data_dir, 64,
                                                     options)[0])
            for split in ("validation", "test")}


def r_sum(metrics, prefix=""):
    return sum(metrics[f"{prefix}{key}"] for key in RECALLS)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data/flickr8k_1k")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--patience", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs-dir", default=str(ROOT / "runs" / "retrieval"))
    parser.add_argument("--only", nargs="*", choices=PRESETS)
    parser.add_argument("--ship", action="store_true",
                        help="copy the better preset's weights to weights/<preset>/flickr8k")
    args = parser.parse_args()

    from mmzoo.tasks.retrieval.metrics import random_ranking_floor
    from mmzoo.training import ship_folder
    from mmzoo.weights import read_metadata

    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    runs = results.setdefault("runs", {})
    for preset in args.only or PRESETS:
        out = pathlib.Path(args.runs_dir) / preset
        command = train_command(preset, args, out)
        if not (out / "metadata.json").exists():
            print("$", shlex.join(command), flush=True)
            subprocess.run(command, check=True, cwd=ROOT)
        metadata = read_metadata(out)
        runs[preset] = {
            "command": metadata["command"],
            "validation": {k: metadata["metrics"][f"validation_{k}"] for k in COLUMNS},
            "test": {k: metadata["metrics"][f"test_{k}"] for k in COLUMNS},
            "epochs_run": len(metadata["history"]),
            "best_epoch": 1 + min(range(len(metadata["history"])),
                                  key=lambda i: metadata["history"][i]["val_loss"]),
            "train_seconds": metadata["train_seconds_this_run"],
            "folder": str(out.relative_to(ROOT) if out.is_relative_to(ROOT) else out),
        }
        untrained = random_model(preset, args.data_dir, args.seed)
        runs[preset]["untrained"] = {split: {k: values[k] for k in COLUMNS}
                                     for split, values in untrained.items()}
        sizes = metadata["split_sizes"]
        results["floor"] = {split: random_ranking_floor(sizes[split])
                            for split in ("validation", "test")}
        results["split_sizes"] = sizes
        print(json.dumps({preset: runs[preset]}), flush=True)
    if args.ship and runs:
        best = max(runs, key=lambda p: r_sum(runs[p]["validation"]))
        target = ship_folder(ROOT / runs[best]["folder"], best, "flickr8k",
                             root=ROOT / "weights")
        results["shipped"] = f"{best}/flickr8k"
        print(f"shipped {best} -> {target}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    write_table(results)


def write_table(results):
    header = ("| model | split | " + " | ".join(c.replace("_", " ") for c in COLUMNS)
              + " | R-sum |")
    lines = [header, "|---|---|" + "---|" * (len(COLUMNS) + 1)]

    def row(name, split, values):
        cells = [f"{values[k]:.1f}" for k in COLUMNS]
        lines.append(f"| {name} | {split} | " + " | ".join(cells)
                     + f" | {r_sum(values):.1f} |")

    for split in ("validation", "test"):
        for preset, run in results["runs"].items():
            shipped = " (shipped)" if results.get("shipped") == f"{preset}/flickr8k" else ""
            row(f"`{preset}`{shipped}", split, run[split])
        # Both presets have the same towers: untrained (seed 0) they rank identically.
        first = next(iter(results["runs"].values()))
        row("untrained towers (seed 0)", split, first["untrained"][split])
        row("random ranking (exact)", split, results["floor"][split])

    replace_block("retrieval_training", "\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
