"""The bad inputs of `benchmarks/robustness.py` for what runs outside Python code:
the exported SavedModels (their signatures) and the `mmzoo` command.

>>> cases = saved_model_cases(context)   # [Case(...), ...]
>>> rows = cli_cases(context)            # [(name, argv, names), ...]
"""

import os

import numpy as np
import tensorflow as tf
from robustness_fixtures import Case, quoted, read

from mmzoo import weights as weights_lib


# ----- exported SavedModels -------------------------------------------------------------
def saved_model_cases(ctx):
    f, served = ctx.files, ctx.served
    png, wav = read(f["png"]), read(f["wav"])
    empty = tf.constant([], tf.string)
    nan_images = np.full((1, 28, 28, 3), np.nan, "float32")

    def raw(family, endpoint="serving_default"):
        signature = served[family].signatures[endpoint]
        return lambda **inputs: signature(**{k: tf.constant(v) if not isinstance(
            v, tf.Tensor) else v for k, v in inputs.items()})

    classify, ask = raw("classifier"), raw("vqa")
    caption, retrieve = raw("captioner"), raw("retriever")
    tensors = raw("classifier", "serve_tensors")
    c = "sentiment_late/avdigits"
    cases = [
        Case("SavedModel", c, "non-image bytes",
             lambda: classify(image=[b"not an image"], audio=[wav]), quoted("image")),
        Case("SavedModel", c, "empty image bytes",
             lambda: classify(image=[b""], audio=[wav]), quoted("image")),
        Case("SavedModel", c, "8-bit WAV", lambda: classify(image=[png],
                                                            audio=[read(f["wav8bit"])]),
             quoted("audio")),
        Case("SavedModel", c, "header-only WAV",
             lambda: classify(image=[png], audio=[read(f["header_wav"])]), quoted("audio")),
        Case("SavedModel", c, "non-WAV audio bytes",
             lambda: classify(image=[png], audio=[b"RIFF....junk"]), quoted("audio")),
        Case("SavedModel", c, "mismatched batch sizes (2 images, 1 clip)",
             lambda: classify(image=[png, png], audio=[wav]), quoted("image")),
        Case("SavedModel", c, "empty batch", lambda: classify(image=empty, audio=empty),
             quoted("image")),
        Case("SavedModel", c, "serve_tensors: NaN pixels",
             lambda: tensors(image=nan_images, audio=np.zeros((1, 8000), "float32")),
             quoted("image")),
        Case("SavedModel", c, "serve_tensors: wrong dtype (int32 pixels)",
             lambda: tensors(image=np.zeros((1, 28, 28, 3), "int32"),
                             audio=np.zeros((1, 8000), "float32")), ("image",)),
        Case("SavedModel", c, "serve_tensors: wrong rank (image without batch axis)",
             lambda: tensors(image=np.zeros((28, 28, 3), "float32"),
                             audio=np.zeros((1, 8000), "float32")), ("image",)),
    ]
    v = "vqa_san/easy_vqa"
    cases += [
        Case("SavedModel", v, "1 image, 2 questions",
             lambda: ask(image=[png], question=["what color?", "what shape?"]),
             quoted("image") + quoted("question")),
        Case("SavedModel", v, "question: non-UTF-8 bytes",
             lambda: ask(image=[png], question=[b"\xff\xfe what color"]),
             quoted("question")),
        Case("SavedModel", v, "non-image bytes",
             lambda: ask(image=[b"not an image"], question=["what color?"]),
             quoted("image")),
        Case("SavedModel", v, "empty batch", lambda: ask(image=empty, question=empty),
             quoted("image") + quoted("question")),
    ]
    p = "caption_sat/flickr8k"
    cases += [
        Case("SavedModel", p, "non-image bytes", lambda: caption(image=[b"not an image"]),
             quoted("image")),
        Case("SavedModel", p, "empty image bytes", lambda: caption(image=[b""]),
             quoted("image")),
        Case("SavedModel", p, "empty batch", lambda: caption(image=empty), quoted("image")),
        Case("SavedModel", p, "serve_images: NaN pixels",
             lambda: raw("captioner", "serve_images")(image=nan_images), quoted("image")),
    ]
    r = "retrieval_dual_encoder/flickr8k"
    cases += [
        Case("SavedModel", r, "encode_text: empty text",
             lambda: raw("retriever", "encode_text")(text=[""]), quoted("text")),
        # No "unknown words only" case: the shipped retriever's WordPiece tokenizer
        # splits any word into known pieces (word-level vocabularies flag such texts
        # in `out_of_vocabulary`; tests/tasks/retrieval cover that).
        Case("SavedModel", r, "encode_image: non-image bytes",
             lambda: raw("retriever", "encode_image")(image=[b"not an image"]),
             quoted("image")),
        Case("SavedModel", r, "encode_image: empty bytes",
             lambda: raw("retriever", "encode_image")(image=[b""]), quoted("image")),
        Case("SavedModel", r, "empty batch", lambda: retrieve(image=empty, text=empty),
             quoted("image") + quoted("text")),
    ]
    return cases


# ----- the command line -----------------------------------------------------------------
def cli_cases(ctx):
    """(name, argv, names) rows; `robustness.py` runs each as `mmzoo <argv>`."""
    f, w = ctx.files, ctx.weights
    png, wav = f["png"], f["wav"]
    late = ["predict", "sentiment_late", "--weights", "avdigits"]
    return [
        ("unknown preset", ["predict", "sentiment_lat", "--image", png], ("sentiment_lat",)),
        ("unknown weights name", ["predict", "sentiment_late", "--weights", "imagenet21k",
                                  "--image", png], ("imagenet21k",)),
        ("directory as image file", late + ["--image", f["directory"]], quoted("image")),
        ("missing image file", late + ["--image", f["missing"]], quoted("image")),
        ("a text file named .png", late + ["--image", f["text_png"]], quoted("image")),
        ("8-bit WAV", late + ["--audio", f["wav8bit"]], quoted("audio")),
        ("header-only WAV", late + ["--audio", f["header_wav"]], quoted("audio")),
        ("--top-k 1.7", late + ["--image", png, "--top-k", "1.7"], ("--top-k",)),
        ("--top-k 0", late + ["--image", png, "--top-k", "0"], ("top_k", "--top-k")),
        ("no input", late, quoted("image")),
        ("text for an image+audio model", late + ["--text", "seven", "--image", png],
         quoted("text")),
        ("tampered weights folder", ["predict", "sentiment_late", "--weights",
                                     w["tampered"], "--image", png],
         (weights_lib.WEIGHTS_FILE,)),
        ("another preset's weights folder", ["predict", "sentiment_late", "--weights",
                                             w["other_preset"], "--image", png],
         ("sentiment_early",)),
        ("export --format onnx", ["export", "sentiment_late", "--out", "x", "--format",
                                  "onnx"], ("--format",)),
        ("evaluate: unknown data set", ["evaluate", "sentiment_late", "--weights",
                                        "avdigits", "--data", "avdigitz"], ("avdigitz",)),
        ("train: empty data folder", ["train", "sentiment_late", "--data", "avdigits",
                                      "--data-dir", f["empty_dir"], "--out",
                                      os.path.join(f["empty_dir"], "run")],
         (f["empty_dir"],)),
        ("vqa: image without a question", ["predict", "vqa_san", "--weights", "easy_vqa",
                                           "--image", png], quoted("question")),
        ("vqa: question given as --text", ["predict", "vqa_san", "--weights", "easy_vqa",
                                           "--image", png, "--text", "what color?"],
         ("--text",)),
        ("caption: --audio for a captioner", ["predict", "caption_sat", "--weights",
                                              "flickr8k", "--image", png, "--audio", wav],
         ("--audio",)),
        ("retrieval: no candidate labels", ["predict", "retrieval_dual_encoder",
                                            "--weights", "flickr8k", "--image", png],
         ("--labels",)),
    ]
