"""bfloat16 inference on CPU: speed and accuracy of every shipped model loaded with
`dtype="mixed_bfloat16"` against the same weights in float32.

    python benchmarks/bfloat16.py --data-dir ../shared/data [--max-examples 400]
                                  [--repeats 20] [--models vqa_san/easy_vqa ...]

For each shipped weights folder (`weights/manifest.json`): both models are loaded from
the same files; speed is the compiled call (`model.infer`, the path of the pipelines;
for captioners `generate` with the config's beam search) on real examples of the split
at batch 1 and 32, float32 and bfloat16 alternating in one process (medians and 95th
percentiles, ms); accuracy is the split the weights' metadata records (test, else
validation), the first `--max-examples` examples of it when given (the same examples
for both), with the task's own metrics (`evaluate_dataset`). Classifiers and VQA
also report how many top-1 predictions bfloat16 changes.

Variables stay float32 under `mixed_bfloat16` (Keras' mixed precision); the outputs
are float32. bfloat16 pays off only on CPUs with native bfloat16 arithmetic
(AVX512-BF16, AMX-BF16: TensorFlow's oneDNN kernels use them); elsewhere oneDNN
emulates it and it runs slower than float32. The machine's flags are recorded.

Writes benchmarks/results/bfloat16.json and the table in benchmarks/README.md
(between `<!-- bfloat16:start -->` and `<!-- bfloat16:end -->`).
"""

import argparse
import pathlib
import time

import numpy as np
from latency import alternate, machine  # benchmarks/ is on sys.path
from readme_block import replace_block
from results_file import save_results

import mmzoo
from mmzoo.training.fit import load_split
from mmzoo.weights import read_manifest, read_metadata, resolve_weights

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "bfloat16.json"
DTYPES = ("float32", "mixed_bfloat16")
HEADLINE = {"Classifier": ["accuracy"], "VQA": ["accuracy"],
            "Captioner": ["bleu4", "cider"], "Retriever": ["i2t_r10", "t2i_r10"]}


def recorded_splits(entry):
    """The splits the weights' metadata has metrics for, test first."""
    metrics = entry.get("metrics", {})
    return [s for s in ("test", "validation") if any(k.startswith(s + "_") for k in metrics)]


def evaluate(model, dataset):
    """(metrics, top-1 predictions or None) of `model` on a batched split."""
    task = type(model).__name__
    if task == "Classifier":
        scores, labels = model.predict_dataset(dataset)
        top = scores.argmax(-1)
        return {"accuracy": float((top == labels).mean()), "examples": len(top)}, top
    if task == "VQA":
        scores, truth, _ = model.predict_answers(dataset)
        top = scores.argmax(-1)
        predicted = np.asarray(model.answers, dtype=object)[top]
        return {"accuracy": float((predicted == truth).mean()), "examples": len(top)}, top
    return model.evaluate_dataset(dataset), None


def speed_calls(model, dataset, batch):
    """A zero-argument callable running `batch` real examples the way users wait."""
    inputs = next(iter(dataset.unbatch().batch(batch).take(1)))
    inputs = inputs[0] if isinstance(inputs, tuple) else inputs
    if type(model).__name__ == "Captioner":
        images = inputs["image"]
        return lambda: model.generate(images)
    if "captions" in inputs:  # the retriever: each image with its first caption
        inputs = {"image": inputs["image"], "text": inputs["captions"][:, 0]}
    arrays = {k: np.asarray(v) for k, v in model.convert_inputs(inputs).items()}
    return lambda: model.infer(arrays)



def measure(key, entry, data_dir, max_examples, repeats, batches):
    preset, weights = key.split("/")
    models = {dtype: mmzoo.load(preset, weights=weights, compile=False,
                                **({} if dtype == "float32" else {"dtype": dtype}))
              for dtype in DTYPES}
    if entry.get("data_dir") and pathlib.Path(entry["data_dir"]).is_dir():
        data_dir = entry["data_dir"]  # the folder the weights were trained on
    options = {**models["float32"].dataset_options(), **(entry.get("data_options") or {})}
    for split in recorded_splits(entry):  # flickr8k_1k no longer serves its test split
        dataset, _ = load_split(entry["dataset"], split, data_dir, 32, options,
                                max_examples=max_examples)
        if dataset is not None:
            break
    speed = {}
    for batch in batches:
        timed = alternate({d: speed_calls(m, dataset, batch) for d, m in models.items()},
                          repeats)
        speed[str(batch)] = {**timed, "speedup": round(
            timed["float32"]["median_ms"] / timed["mixed_bfloat16"]["median_ms"], 3)}
    results, tops = {}, {}
    for dtype, model in models.items():
        started = time.perf_counter()
        results[dtype], tops[dtype] = evaluate(model, dataset)
        results[dtype]["seconds"] = round(time.perf_counter() - started, 1)
    row = {"preset": preset, "weights": weights, "task": type(models["float32"]).__name__,
           "data": entry["dataset"], "split": split, "max_examples": max_examples,
           "speed": speed, "metrics": results,
           "recorded": {k[len(split) + 1:]: v for k, v in entry.get("metrics", {}).items()
                        if k.startswith(split + "_")}}
    if tops["float32"] is not None:
        row["top1_changed"] = int((tops["float32"] != tops["mixed_bfloat16"]).sum())
    print(key, speed, {d: {m: results[d].get(m) for m in HEADLINE[row["task"]]}
                       for d in DTYPES}, flush=True)
    return row


def table(results):
    lines = [("| model (weights) | data, split (examples) | metric | float32 | bfloat16 | "
             "top-1 changed | batch 1: float32 / bfloat16 ms (speed-up) | batch 32: "
             "float32 / bfloat16 ms (speed-up) |"), "|---|---|---|---|---|---|---|---|"]
    for key, row in results.items():
        if key == "machine":
            continue
        f32, b16 = row["metrics"]["float32"], row["metrics"]["mixed_bfloat16"]
        examples = f32.get("examples", f32.get("images"))
        names = HEADLINE[row["task"]]
        metric = " / ".join(names)
        values = [" / ".join(_format(n, m[n]) for n in names) for m in (f32, b16)]
        changed = (f"{row['top1_changed']} of {examples}" if "top1_changed" in row else "-")
        speeds = [f"{s['float32']['median_ms']:,.1f} / {s['mixed_bfloat16']['median_ms']:,.1f}"
                  f" ({s['speedup']:.2f}x)" for s in row["speed"].values()]
        lines.append(f"| {row['preset']} ({row['weights']}) | {row['data']}, {row['split']} "
                     f"({examples}) | {metric} | {values[0]} | {values[1]} | {changed} | "
                     + " | ".join(speeds) + " |")
    return "\n".join(lines)


def _format(name, value):
    if name == "accuracy":
        return f"{value:.2%}"
    return f"{value:.2f}" if name.startswith(("i2t", "t2i")) else f"{value:.4f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--max-examples", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--models", nargs="+", default=None,
                        help="preset/weights keys of weights/manifest.json (default: all)")
    args = parser.parse_args()
    manifest = read_manifest()
    new = {"machine": machine()}
    for key in args.models or sorted(manifest):
        entry = {**manifest[key], **read_metadata(resolve_weights(*key.split("/")))}
        new[key] = measure(key, entry, args.data_dir, args.max_examples, args.repeats,
                           args.batches)
    replace_block("bfloat16", table(save_results(RESULTS, new)))


if __name__ == "__main__":
    main()
