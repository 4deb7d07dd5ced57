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

    python benchmarks/decoding.py --keras-io [--repeats 5]

instead compares end to end (float32 pixels in, 20 tokens out, strings back) the keras.io
image captioning example (re-created in `keras_io_captioning.py`: EfficientNetB0 at 299,
its eager greedy loop) with `caption_transformer` at the example's sizes, at batch 1
and 32, timed in alternating rounds in one process (medians), first calls apart; writes
benchmarks/results/decoding_keras_io.json and the `decoding-keras-io` README table.
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
from keras_io_captioning import KerasIOCaptioner  # benchmarks/ is on sys.path
from latency import alternate, machine
from readme_block import replace_block

import mmzoo
from mmzoo.weights import shipped_weights

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "decoding.json"
KERAS_IO_RESULTS = ROOT / "benchmarks" / "results" / "decoding_keras_io.json"
# caption_transformer at the keras.io example's sizes (keras_io_captioning.py).
KERAS_IO_SIZE = dict(image_backbone="efficientnet_b0", image_weights=None,
                     word_embeddings=None, image_size=299, embed_dim=512, ffn_dim=512,
                     num_layers=1, num_heads=2, encoder_layers=1, vocab_size=10000,
                     sequence_length=25)
TARGETS = {1: 20.0, 32: 8.0}  # issue 17: end-to-end speed-up over the keras.io loop
INT8_CALIBRATION = 16  # images; random weights here, so only the speed is meaningful
TOKENS = 20
# keras.io image captioning (../shared/ANCHORS.md): greedy, 20 tokens, its own loop.
KERAS_IO = {1: {"captions_per_s": 0.57, "tokens_per_s": 11.4},
            32: {"captions_per_s": 2.0, "tokens_per_s": 40.0}}


def load_model(preset, weights, **overrides):
    if weights == "auto":
        weights = "flickr8k" if "flickr8k" in shipped_weights(preset) else None
    model = mmzoo.load(preset, weights=weights, compile=False, **overrides)
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
    parser.add_argument("--keras-io", action="store_true",
                        help="the keras.io-sized comparison (see the docstring)")
    args = parser.parse_args()
    if args.keras_io:
        return keras_io_main(args.batches, args.repeats)
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


def timed(call):
    started = time.perf_counter()
    call()
    return round(time.perf_counter() - started, 2)


def keras_io_main(batches, repeats):
    """keras.io loop vs `caption_transformer.generate` at the example's sizes, with the
    float32 image backbone and with its int8 copy (`int8_image_backbone`)."""
    ours, _ = load_model("caption_transformer", None, **KERAS_IO_SIZE)
    theirs = KerasIOCaptioner()
    rng = np.random.default_rng(0)
    load = [os.getloadavg()]
    results = {"tokens_per_caption": TOKENS, "repeats": repeats, "machine": machine(),
               "batches": {}}
    calibration = rng.uniform(0, 255, (INT8_CALIBRATION, 299, 299, 3)).astype("float32")
    started = time.perf_counter()
    int8 = ours.int8_image_backbone(calibration)
    results["int8_conversion_s"] = round(time.perf_counter() - started, 1)
    results["int8_calibration_images"] = INT8_CALIBRATION
    encode = tf.function(lambda x: ours._inference_encoder()(x))
    tail = tf.function(ours._grid_encoder())
    for batch in batches:
        pixels = rng.uniform(0, 255, (batch, 299, 299, 3)).astype("float32")
        images = tf.constant(pixels)

        def generate(beams, jit, backbone=None):
            def call():
                out = ours.generate(images, max_length=TOKENS, min_length=TOKENS,
                                    num_beams=beams, jit_compile=jit,
                                    image_backbone=backbone)
                assert out["token_ids"].shape == (batch, TOKENS)
            return call

        def keras_io():
            assert len(theirs.generate(pixels, TOKENS)) == batch

        calls = {"keras.io loop": keras_io}
        for search, beams in (("greedy", 1), ("beam 3", 3)):
            for backbone, label in ((None, ""), (int8, " int8")):
                for mode, jit in (("graph", False), ("xla", True)):
                    calls[f"mmzoo {search}{label} {mode}"] = generate(beams, jit, backbone)
        parts = {"keras.io CNN (eager)": lambda: theirs.cnn(pixels).numpy(),
                 "mmzoo image encoder": lambda: encode(images).numpy(),
                 "mmzoo image encoder int8": lambda: tail(int8(pixels)).numpy()}
        first = {name: timed(call) for name, call in {**calls, **parts}.items()}
        medians = alternate({**calls, **parts}, repeats)
        load.append(os.getloadavg())
        base = medians["keras.io loop"]["median_ms"]
        rows = {name: {"median_ms": value["median_ms"], "first_call_s": first[name],
                       "speedup": round(base / value["median_ms"], 1)}
                for name, value in medians.items()}
        results["batches"][str(batch)] = rows
        print(batch, json.dumps(rows), flush=True)
    results["load_average"] = [[round(v, 2) for v in entry] for entry in load]
    KERAS_IO_RESULTS.parent.mkdir(parents=True, exist_ok=True)
    KERAS_IO_RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    write_keras_io_table(results)


def write_keras_io_table(results):
    lines = ["| batch | end to end (pixels in, 20 tokens, strings out) | median ms per "
             "batch | captions/s | first call (s) | speed-up over the keras.io loop | "
             "target |", "|---|---|---|---|---|---|---|"]
    for batch, rows in results["batches"].items():
        for name, row in rows.items():
            target = TARGETS.get(int(batch)) if name.startswith("mmzoo greedy") else None
            verdict = "" if target is None else \
                f"{target:g}x: {'met' if row['speedup'] >= target else 'not met'}"
            part = "CNN" in name or "encoder" in name
            speed = "" if part else f"{1000 * int(batch) / row['median_ms']:.2f}"
            ratio = "" if part else f"{row['speedup']}x"
            lines.append(f"| {batch} | {name} | {row['median_ms']:,.1f} | {speed} | "
                         f"{row['first_call_s']} | {ratio} | {verdict} |")
    for batch, rows in results["batches"].items():
        keras_io = rows["keras.io loop"]
        line = (f"\nBatch {batch}: the keras.io loop {keras_io['median_ms']:,.0f} ms, "
                f"{rows['keras.io CNN (eager)']['median_ms']:,.0f} ms of it its CNN.")
        for label, encoder_row in (("float32", "mmzoo image encoder"),
                                   ("int8", "mmzoo image encoder int8")):
            best = min((row["median_ms"], name) for name, row in rows.items()
                       if name.startswith("mmzoo greedy") and
                       (" int8 " in name) == (label == "int8"))
            encoder = rows[encoder_row]["median_ms"]
            line += (f" With the {label} backbone: {best[1]} {best[0]:,.0f} ms, "
                     f"{encoder:,.0f} ms of it the image encoder "
                     f"({keras_io['median_ms'] / encoder:.1f}x is the most any decoding "
                     "could give with it).")
        lines.append(line)
    loads = ", ".join("/".join(str(v) for v in entry) for entry in results["load_average"])
    lines.append(f"\nAlternating rounds: {results['repeats']} per batch (medians); load "
                 f"average (1/5/15 min) at the start and after each batch: {loads} on "
                 f"{results['machine']['cpus']} CPUs. `graph`: one `tf.function` of the "
                 "image encoder (BatchNorm folded into the convolutions) and the cached "
                 "search; `xla`: the same with the search loop under XLA. `int8`: the "
                 "image backbone quantized by `model.int8_image_backbone` (TFLite "
                 "post-training quantization, run by LiteRT's XNNPACK int8 kernels; "
                 f"converted once in {results['int8_conversion_s']} s from "
                 f"{results['int8_calibration_images']} calibration images), the rest "
                 "of the model float32 in TensorFlow. The keras.io side is float32 "
                 "throughout. The CNN / encoder rows time the image side alone (its "
                 "share of each side). bfloat16 (`dtype='mixed_bfloat16'`) is not timed: "
                 + ("this CPU has native bfloat16." if results['machine']['avx512_bf16']
                    or results['machine']['amx_bf16'] else "this CPU has no native "
                    "bfloat16 (AVX512-BF16 / AMX), so oneDNN emulates it, slower than "
                    "float32."))
    replace_block("decoding-keras-io", "\n".join(lines))


if __name__ == "__main__":
    main()
