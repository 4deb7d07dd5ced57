"""Caption decoding speed: captions/s and tokens/s of the captioning presets.

    python benchmarks/decoding.py [--presets caption_transformer caption_sat]

Every configuration decodes exactly 20 tokens per caption (`min_length = max_length =
20`: the end token is held back) for greedy search and beam search (width 3), at batch
1 and 32, with the key/value cache (LSTM: the carried (h, c) state) and without it (the
keras.io example's way: the decoder re-run over the whole padded prefix at every step,
image keys/values included), in three execution modes: `eager` (the search run op by op
from Python), `graph` (`tf.function`) and `xla` (`tf.function(jit_compile=True)`).

The decoding loop is timed from the image encoder's output (`Captioner.search_memory`),
and the image encoder (224x224 pixels -> EfficientNet-Lite0's 7x7 grid -> memory)
separately per batch size and mode;
captions/s and tokens/s are end to end (encoder + decoding), ms/step is the decoding
loop alone. The first call (tracing / compiling) is timed separately; figures are
medians of `--repeats` later calls. Trained weights (`--weights`, default the shipped
`flickr8k` where a preset has them) or a random initialisation with a full synthetic
vocabulary decode at the same speed.

Writes benchmarks/results/decoding.json and the table in benchmarks/README.md
(between `<!-- decoding:start -->` and `<!-- decoding:end -->`).
"""

import argparse
import json
import os
import pathlib
import platform
import statistics
import time

import numpy as np
import tensorflow as tf
from readme_block import replace_block  # benchmarks/ is on sys.path

import mmzoo
from mmzoo.weights import shipped_weights

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "decoding.json"
TOKENS = 20
# keras.io image captioning (../shared/ANCHORS.md): greedy, 20 tokens, its own loop.
KERAS_IO = {1: {"captions_per_s": 0.57, "tokens_per_s": 11.4},
            32: {"captions_per_s": 2.0, "tokens_per_s": 40.0}}


def load_model(preset, weights):
    if weights == "auto":
        weights = "flickr8k" if "flickr8k" in shipped_weights(preset) else None
    model = mmzoo.load(preset, weights=weights, compile=False)
    if weights is None:
        words = [f"word{i}" for i in range(model.vocab_size - 4)]
        model.adapt_text([" ".join(words)] * model.min_word_count)
    return model, weights


def compiled(function, mode):
    if mode == "eager":
        return function
    return tf.function(function, jit_compile=mode == "xla", autograph=False)


def decoder(model, mode, beams, use_cache):
    size = len(model.vocabulary)

    def run(memory):
        return model.search_memory(memory, TOKENS, num_beams=beams, use_cache=use_cache,
                                   min_length=TOKENS, vocabulary_size=size)["tokens"]

    return compiled(run, mode)


def measure(function, inputs, repeats, check=None):
    started = time.perf_counter()
    outputs = function(inputs).numpy()
    first = time.perf_counter() - started
    if check is not None:
        check(outputs)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function(inputs).numpy()
        times.append(time.perf_counter() - started)
    return first, statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+",
                        default=["caption_transformer", "caption_sat"])
    parser.add_argument("--weights", default="auto",
                        help="weights name or folder; 'auto': shipped flickr8k if any")
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 32])
    parser.add_argument("--modes", nargs="+", default=["eager", "graph", "xla"])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows, encoders = [], []
    for preset in args.presets:
        model, weights = load_model(preset, args.weights)
        for batch in args.batches:
            images = tf.constant(rng.uniform(0, 255, (batch, model.image_size,
                                                      model.image_size, 3)), tf.float32)
            memory = model.image_encoder(images, training=False)
            for mode in args.modes:
                encode = compiled(lambda x: model.image_encoder(x, training=False), mode)
                _, encoder_seconds = measure(encode, images, args.repeats)
                encoders.append({"preset": preset, "batch": batch, "mode": mode,
                                 "seconds": round(encoder_seconds, 4)})
                for beams in (1, 3):
                    for use_cache in (True, False):
                        def check(tokens, batch=batch):
                            assert tokens.shape == (batch, TOKENS) and (tokens > 3).all()

                        first, seconds = measure(decoder(model, mode, beams, use_cache),
                                                 memory, args.repeats, check)
                        total = seconds + encoder_seconds
                        row = {
                            "preset": preset, "weights": weights, "batch": batch,
                            "search": "greedy" if beams == 1 else f"beam {beams}",
                            "cache": use_cache, "mode": mode,
                            "decode_seconds": round(seconds, 4),
                            "encoder_seconds": round(encoder_seconds, 4),
                            "first_call_seconds": round(first, 2),
                            "captions_per_s": round(batch / total, 2),
                            "tokens_per_s": round(batch * TOKENS / total, 1),
                            "ms_per_step": round(1000 * seconds / TOKENS, 2),
                        }
                        rows.append(row)
                        print(json.dumps(row), flush=True)
    results = {
        "tokens_per_caption": TOKENS,
        "image_size": model.image_size,
        "keras_io_anchor": KERAS_IO,
        "machine": {"processor": platform.processor() or platform.machine(),
                    "cpus": len(os.sched_getaffinity(0)),
                    "tensorflow": tf.__version__},
        "encoder": encoders,
        "rows": rows,
        "speedups": speedups(rows),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    write_table(results)


def speedups(rows):
    """Uncached time / cached time per (preset, batch, search, mode): of the decoding
    loop, and end to end (image encoder included)."""
    by_key = {(r["preset"], r["batch"], r["search"], r["mode"], r["cache"]): r
              for r in rows}
    out = {}
    for (preset, batch, search, mode, cache), cached in by_key.items():
        uncached = by_key.get((preset, batch, search, mode, False))
        if not cache or uncached is None:
            continue
        out[f"{preset} | {batch} | {search} | {mode}"] = {
            "decoding": round(uncached["decode_seconds"] / cached["decode_seconds"], 1),
            "end_to_end": round(cached["captions_per_s"] / uncached["captions_per_s"], 1),
        }
    return out


def write_table(results):
    rows = ["| preset | batch | search | cache | mode | captions/s | tokens/s | "
            "decoding ms/step | first call (s) |", "|---|---|---|---|---|---|---|---|---|"]
    for r in results["rows"]:
        rows.append(
            f"| {r['preset']} | {r['batch']} | {r['search']} | "
            f"{'yes' if r['cache'] else 'no'} | {r['mode']} | {r['captions_per_s']:,} | "
            f"{r['tokens_per_s']:,} | {r['ms_per_step']} | {r['first_call_seconds']} |")
    for batch, anchor in results["keras_io_anchor"].items():
        rows.append(
            f"| keras.io example (ANCHORS.md) | {batch} | greedy | no | its eager loop | "
            f"{anchor['captions_per_s']} | {anchor['tokens_per_s']} | "
            f"{'65.8' if int(batch) == 1 else '-'} | - |")
    speed = ["| preset | batch | search | mode | decoding loop | end to end |",
             "|---|---|---|---|---|---|"]
    for key, value in results["speedups"].items():
        speed.append(f"| {key} | {value['decoding']}x | {value['end_to_end']}x |")
    encoder = ", ".join(f"{e['preset']} batch {e['batch']} {e['mode']} "
                        f"{1000 * e['seconds']:.1f} ms" for e in results["encoder"])
    replace_block("decoding", "\n".join(rows) + "\n\nCached over uncached speed-up:\n\n"
                  + "\n".join(speed) + f"\n\nImage encoder per batch: {encoder}.")


if __name__ == "__main__":
    main()
