"""The bad inputs of `benchmarks/robustness.py` for Python callers: the pipelines,
direct model calls and `mmzoo.load`, one `Case` per row of its table.

A case calls one surface with one bad input and says which words a good error names
(the input or argument, in the quoting mmzoo uses, or the file). `expect="answer"`
marks inputs that are valid though unusual (integer PCM, a stereo clip in a list): the
call returns whether its answer equals the answer for the input converted by hand.

>>> cases = pipeline_cases(context)   # [Case(surface, target, name, call, names), ...]
"""

import math
import os

import numpy as np
import tensorflow as tf
from robustness_fixtures import Case, quoted

import mmzoo
from mmzoo import weights as weights_lib


# ----- pipelines ------------------------------------------------------------------------
def pipeline_cases(ctx):
    f, classify, ask = ctx.files, ctx.pipelines["classifier"], ctx.pipelines["vqa"]
    caption, retrieve = ctx.pipelines["captioner"], ctx.pipelines["retriever"]
    stereo = np.random.default_rng(1).uniform(-0.3, 0.3, (8000, 2)).astype("float32")
    pcm = (np.random.default_rng(2).uniform(-1, 1, 8000) * 20000).astype("int16")
    nan_image = np.full((28, 28, 3), np.nan, "float32")
    png, wav = f["png"], f["wav"]
    image_index = retrieve.index(images=[png], verbose=0)

    def same(first, second):
        return first == second

    c = "sentiment_late/avdigits"
    cases = [
        Case("pipeline", c, "image: wrong dtype (complex array)",
             lambda: classify(image=np.zeros((28, 28, 3), complex), audio=wav),
             quoted("image")),
        Case("pipeline", c, "image: wrong rank (5-D array)",
             lambda: classify(image=np.zeros((1, 1, 28, 28, 3)), audio=wav), quoted("image")),
        Case("pipeline", c, "image: NaN pixels", lambda: classify(image=nan_image),
             quoted("image")),
        Case("pipeline", c, "audio: inf samples",
             lambda: classify(audio=np.full(8000, np.inf, "float32")), quoted("audio")),
        Case("pipeline", c, "empty batch", lambda: classify(image=[], audio=[]),
             quoted("image") + quoted("audio")),
        Case("pipeline", c, "mismatched batch sizes (2 images, 1 clip)",
             lambda: classify(image=[png, png], audio=[wav]), ("batch",)),
        Case("pipeline", c, "stereo array (8000, 2) as one clip",
             lambda: classify(audio=stereo), quoted("audio")),
        Case("pipeline", c, "stereo clip in a list (down-mixed)",
             lambda: same(classify(audio=[stereo], top_k=3),
                          classify(audio=[stereo.mean(axis=1)], top_k=3)), (), "answer"),
        Case("pipeline", c, "audio shorter than one FFT window",
             lambda: classify(audio=np.zeros(50, "float32")), quoted("audio")),
        Case("pipeline", c, "int16 PCM audio (scaled)",
             lambda: same(classify(audio=pcm, top_k=3),
                          classify(audio=pcm.astype("float32") / 32768, top_k=3)),
             (), "answer"),
        Case("pipeline", c, "non-image bytes", lambda: classify(image=b"not an image"),
             quoted("image")),
        Case("pipeline", c, "empty bytes", lambda: classify(image=b""), quoted("image")),
        Case("pipeline", c, "8-bit WAV", lambda: classify(audio=f["wav8bit"]),
             quoted("audio")),
        Case("pipeline", c, "header-only WAV (0 samples)",
             lambda: classify(audio=f["header_wav"]), quoted("audio")),
        Case("pipeline", c, "directory as image file",
             lambda: classify(image=f["directory"]), quoted("image")),
        Case("pipeline", c, "missing image file", lambda: classify(image=f["missing"]),
             quoted("image")),
        Case("pipeline", c, "text for an image+audio model",
             lambda: classify(text="seven", image=png), quoted("text")),
        Case("pipeline", c, "top_k=1.7", lambda: classify(image=png, top_k=1.7), ("top_k",)),
        Case("pipeline", c, "top_k=None", lambda: classify(image=png, top_k=None),
             ("top_k",)),
        Case("pipeline", c, "top_k=0", lambda: classify(image=png, top_k=0), ("top_k",)),
        Case("pipeline", c, "misspelled argument (imgae=)", lambda: classify(imgae=png),
             ("imgae",)),
        Case("pipeline", c, "no input", lambda: classify(), quoted("image")),
    ]
    v = "vqa_san/easy_vqa"
    cases += [
        Case("pipeline", v, "question: non-UTF-8 bytes",
             lambda: ask(image=png, question=b"\xff\xfe what color"), quoted("question")),
        Case("pipeline", v, "question missing", lambda: ask(image=png), quoted("question")),
        Case("pipeline", v, "question: a number", lambda: ask(image=png, question=5),
             quoted("question")),
        Case("pipeline", v, "question: empty list", lambda: ask(image=png, question=[]),
             quoted("question")),
        Case("pipeline", v, "2 images, 3 questions",
             lambda: ask(image=[png, png], question=["what color?"] * 3),
             quoted("image") + quoted("question")),
        Case("pipeline", v, "image: NaN pixels",
             lambda: ask(image=nan_image, question="what color?"), quoted("image")),
        Case("pipeline", v, "image: wrong rank (1-D array)",
             lambda: ask(image=np.zeros(10), question="what color?"), quoted("image")),
        Case("pipeline", v, "image: non-image bytes",
             lambda: ask(image=b"GIF89a broken", question="what color?"), quoted("image")),
        Case("pipeline", v, "image: empty bytes",
             lambda: ask(image=b"", question="what color?"), quoted("image")),
        Case("pipeline", v, "directory as image file",
             lambda: ask(image=f["directory"], question="what color?"), quoted("image")),
        Case("pipeline", v, "top_k=1.7",
             lambda: ask(image=png, question="what color?", top_k=1.7), ("top_k",)),
    ]
    p = "caption_sat/flickr8k"
    cases += [
        Case("pipeline", p, "image: NaN pixels", lambda: caption(image=nan_image),
             quoted("image")),
        Case("pipeline", p, "image: empty bytes", lambda: caption(image=b""),
             quoted("image")),
        Case("pipeline", p, "image: non-image bytes", lambda: caption(image=b"\x89PNG junk"),
             quoted("image")),
        Case("pipeline", p, "directory as image file",
             lambda: caption(image=f["directory"]), quoted("image")),
        Case("pipeline", p, "no image", lambda: caption(), ("image=",)),
        Case("pipeline", p, "empty list of images", lambda: caption(image=[]),
             quoted("image")),
        Case("pipeline", p, "length_penalty=nan",
             lambda: caption(image=png, length_penalty=math.nan), ("length_penalty",)),
        Case("pipeline", p, "num_beams=0", lambda: caption(image=png, num_beams=0),
             ("num_beams",)),
        Case("pipeline", p, "num_beams=2.5", lambda: caption(image=png, num_beams=2.5),
             ("num_beams",)),
        Case("pipeline", p, "max_length=1000", lambda: caption(image=png, max_length=1000),
             ("max_length",)),
        Case("pipeline", p, "temperature=-1", lambda: caption(image=png, temperature=-1),
             ("temperature",)),
        Case("pipeline", p, "top_k=1.7 (sampling)", lambda: caption(image=png, top_k=1.7),
             ("top_k",)),
        Case("pipeline", p, "batch_size=0", lambda: caption(image=png, batch_size=0),
             ("batch_size",)),
        Case("pipeline", p, "misspelled option (beams=3)",
             lambda: caption(image=png, beams=3), ("beams",)),
    ]
    r = "retrieval_dual_encoder/flickr8k"
    cases += [
        Case("pipeline", r, "empty query ''",
             lambda: retrieve.search(text="", index=image_index), quoted("text")),
        Case("pipeline", r, "blank query '   '",
             lambda: retrieve.search(text="   ", index=image_index), quoted("text")),
        # No "unknown words only" query: see robustness_served.py (WordPiece).
        Case("pipeline", r, "query: non-UTF-8 bytes",
             lambda: retrieve.search(text=b"\xff\xfe dog", index=image_index),
             quoted("text")),
        Case("pipeline", r, "embed_texts(None)", lambda: retrieve.embed_texts(None),
             quoted("text")),
        Case("pipeline", r, "k=0", lambda: retrieve.search(text="a dog", index=image_index,
                                                            k=0), ("k must", "k=")),
        Case("pipeline", r, "k=1.7", lambda: retrieve.search(text="a dog", index=image_index,
                                                              k=1.7), ("k must", "k=")),
        Case("pipeline", r, "image query against an image index",
             lambda: retrieve.search(image=png, index=image_index), ("image", "text")),
        Case("pipeline", r, "both a text and an image query",
             lambda: retrieve.search(text="a dog", image=png, index=image_index),
             ("text=", "image=")),
        Case("pipeline", r, "empty image corpus", lambda: retrieve.index(images=[]),
             quoted("image") + ("image corpus",)),
        Case("pipeline", r, "image: NaN pixels", lambda: retrieve.embed_images(nan_image),
             quoted("image")),
        Case("pipeline", r, "zero-shot: no candidate labels",
             lambda: retrieve(png, candidate_labels=[]), ("candidate_labels",)),
        Case("pipeline", r, "zero-shot: template without {}",
             lambda: retrieve(png, candidate_labels=["dog"], hypothesis_template="a photo"),
             ("hypothesis_template",)),
        Case("pipeline", r, "zero-shot: top_k=1.7",
             lambda: retrieve(png, candidate_labels=["dog", "cat"], top_k=1.7), ("top_k",)),
    ]
    return cases


# ----- model calls ----------------------------------------------------------------------
def model_cases(ctx):
    classifier, vqa = ctx.models["classifier"], ctx.models["vqa"]
    captioner, retriever = ctx.models["captioner"], ctx.models["retriever"]
    rng = np.random.default_rng(3)
    images = rng.uniform(0, 255, (2, 28, 28, 3)).astype("float32")
    waves = (rng.normal(size=(2, 8000)) * 0.1).astype("float32")
    pcm = (rng.uniform(-1, 1, (2, 8000)) * 20000).astype("int16")
    ids = np.array([[3, 4, 5, 0], [6, 7, 0, 0]], "int32")
    nan_images = images.copy()
    nan_images[0, 0, 0, 0] = np.nan
    graph = tf.function(lambda x: classifier(x))

    def close(first, second):
        return bool(np.allclose(np.asarray(first), np.asarray(second), atol=1e-6))

    c = "sentiment_late/avdigits"
    cases = [
        Case("model(x)", c, "image: wrong dtype (strings)",
             lambda: classifier({"image": np.full((1, 28, 28, 3), "x")}), quoted("image")),
        Case("model(x)", c, "image: wrong rank (no batch axis)",
             lambda: classifier({"image": images[0]}), quoted("image")),
        Case("model(x)", c, "image: NaN pixel", lambda: classifier({"image": nan_images}),
             quoted("image")),
        Case("model(x)", c, "audio: inf sample",
             lambda: classifier({"audio": np.where(waves > 0.3, np.inf, waves)}),
             quoted("audio")),
        Case("model(x)", c, "empty batch", lambda: classifier({"image": images[:0]}),
             quoted("image")),
        Case("model(x)", c, "mismatched batch sizes",
             lambda: classifier({"image": images, "audio": waves[:1]}), ("batch",)),
        Case("model(x)", c, "stereo array (8000, 2)",
             lambda: classifier({"audio": waves.T.copy()}), quoted("audio")),
        Case("model(x)", c, "int16 PCM audio (scaled)",
             lambda: close(classifier({"audio": pcm}),
                           classifier({"audio": pcm.astype("float32") / 32768})),
             (), "answer"),
        Case("model(x)", c, "unknown input name", lambda: classifier({"imgae": images}),
             quoted("imgae")),
        Case("model(x)", c, "tf.function: mismatched batch sizes",
             lambda: graph({"image": images, "audio": waves[:1]}), quoted("image")),
        Case("model(x)", c, "tf.function: NaN pixel",
             lambda: graph({"image": nan_images, "audio": waves}), quoted("image")),
    ]
    v = "vqa_san/easy_vqa"
    cases += [
        Case("model(x)", v, "question: float ids",
             lambda: vqa({"image": images, "question": ids.astype("float32")}),
             quoted("question")),
        Case("model(x)", v, "question: wrong rank",
             lambda: vqa({"image": images, "question": ids[0]}), quoted("question")),
        Case("model(x)", v, "question missing", lambda: vqa({"image": images}),
             quoted("question")),
        Case("model(x)", v, "1 image, 2 questions",
             lambda: vqa({"image": images[:1], "question": ids}), ("batch",)),
    ]
    cases += [
        Case("model(x)", "caption_sat/flickr8k", "image: NaN pixel",
             lambda: captioner({"image": nan_images, "caption": ids}), quoted("image")),
        Case("model(x)", "caption_sat/flickr8k", "generate: NaN pixel",
             lambda: captioner.generate(nan_images), quoted("image")),
        Case("model(x)", "retrieval_dual_encoder/flickr8k", "text: wrong dtype (strings)",
             lambda: retriever({"image": images, "text": np.array([["a"], ["b"]])}),
             quoted("text")),
        Case("model(x)", "retrieval_dual_encoder/flickr8k", "image: NaN pixel",
             lambda: retriever({"image": nan_images, "text": ids}), quoted("image")),
    ]
    return cases


# ----- mmzoo.load -----------------------------------------------------------------------
def load_cases(ctx):
    w = ctx.weights
    load = mmzoo.load

    def shipped_copy():
        previous = os.environ.get("MMZOO_WEIGHTS_DIR")
        os.environ["MMZOO_WEIGHTS_DIR"] = w["shipped_root"]
        try:
            return load("sentiment_late", weights="avdigits")
        finally:
            if previous is None:
                del os.environ["MMZOO_WEIGHTS_DIR"]
            else:
                os.environ["MMZOO_WEIGHTS_DIR"] = previous

    def case(name, call, names):
        return Case("mmzoo.load", "sentiment_late", name, call, names)

    return [
        case("unknown preset", lambda: load("sentiment_lat"), ("sentiment_lat",)),
        case("unknown weights name", lambda: load("sentiment_late", weights="imagenet21k"),
             ("imagenet21k",)),
        case("num_classes=2.7", lambda: load("sentiment_late", num_classes=2.7),
             ("num_classes",)),
        case("num_classes=1", lambda: load("sentiment_late", num_classes=1),
             ("num_classes",)),
        case("image_size=-5", lambda: load("sentiment_late", image_size=-5),
             ("image_size",)),
        case("sample_rate=0", lambda: load("sentiment_late", sample_rate=0),
             ("sample_rate",)),
        case("misspelled argument (fusoin=)", lambda: load("sentiment_late", fusoin="late"),
             ("fusoin",)),
        case("unknown modality", lambda: load("sentiment_late", modalities=("smell",)),
             ("smell",)),
        case("dtype='float8'", lambda: load("sentiment_late", dtype="float8"), ("dtype",)),
        case("tampered shipped weights file", shipped_copy, (weights_lib.WEIGHTS_FILE,)),
        case("tampered weights file (folder by path)",
             lambda: load("sentiment_late", weights=w["tampered"]),
             (weights_lib.WEIGHTS_FILE,)),
        case("another preset's weights folder",
             lambda: load("sentiment_late", weights=w["other_preset"]), ("sentiment_early",)),
        case("weights of another task",
             lambda: load("vqa_san", weights=w["other_preset"]), ("classifier",)),
        case("corrupt config.json", lambda: load("sentiment_late", weights=w["corrupt_config"]),
             (weights_lib.CONFIG_FILE,)),
        case("folder without model.weights.h5",
             lambda: load("sentiment_late", weights=w["no_weights_file"]),
             (weights_lib.WEIGHTS_FILE,)),
        case("unfinished folder (0-byte weights, no checksums)",
             lambda: load("sentiment_late", weights=w["unfinished"]),
             (weights_lib.WEIGHTS_FILE, weights_lib.CHECKSUMS_FILE)),
        case("weights path that does not exist",
             lambda: load("sentiment_late", weights="./no_such_run"), ("no_such_run",)),
    ]
