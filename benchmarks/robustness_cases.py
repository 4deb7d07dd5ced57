"""The bad inputs of `benchmarks/robustness.py`, one `Case` per row of its table.

A case calls one surface (a pipeline, a model call, `mmzoo.load`, the CLI, an exported
SavedModel) with one bad input and says which words a good error names (the input or
argument, in the quoting mmzoo uses, or the file). `expect="answer"` marks inputs that
are valid though unusual (integer PCM, a stereo clip in a list): the call returns
whether its answer equals the reference answer.

>>> cases = pipeline_cases(context)   # [Case(surface, target, name, call, names), ...]
"""

import dataclasses
import math
import os
import shutil
import wave

import numpy as np
import tensorflow as tf

import mmzoo
from mmzoo import weights as weights_lib

WORDS = "zqxv blorf"  # no word of any shipped vocabulary


@dataclasses.dataclass
class Case:
    surface: str          # "pipeline", "model(x)", "mmzoo.load", "CLI", "SavedModel"
    target: str           # the preset (and weights) or command it runs on
    name: str             # what is wrong with the input
    call: object          # no arguments; raises, or returns (answer cases: a bool)
    names: tuple          # substrings (any) that a named error contains
    expect: str = "error"


def quoted(name):
    """The ways mmzoo messages name input `name`: 'name', `name`, name[0]."""
    return (f"'{name}", f"`{name}`", f"{name}[")


# ----- files --------------------------------------------------------------------------
def write_files(folder):
    """Sample and broken files under `folder`; returns name -> path."""
    samples = os.path.join(os.path.dirname(mmzoo.__file__), "samples", "avdigits")
    files = {"png": os.path.join(samples, "digit_7.png"),
             "wav": os.path.join(samples, "digit_7.wav")}
    rng = np.random.default_rng(0)
    files["wav8bit"] = os.path.join(folder, "eight_bit.wav")
    with wave.open(files["wav8bit"], "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(1)
        handle.setframerate(8000)
        handle.writeframes(rng.integers(0, 255, 8000, dtype=np.uint8).tobytes())
    files["header_wav"] = os.path.join(folder, "header_only.wav")
    with open(files["header_wav"], "wb") as handle:
        handle.write(tf.audio.encode_wav(np.zeros((0, 1), np.float32), 8000).numpy())
    files["text_png"] = os.path.join(folder, "notes.png")
    with open(files["text_png"], "w") as handle:
        handle.write("not an image\n")
    files["directory"] = os.path.join(folder, "a_folder.png")
    os.makedirs(files["directory"], exist_ok=True)
    files["missing"] = os.path.join(folder, "missing.png")
    files["empty_dir"] = os.path.join(folder, "empty_data")
    os.makedirs(files["empty_dir"], exist_ok=True)
    return files


def read(path):
    with open(path, "rb") as handle:
        return handle.read()


def flip_a_byte(path, offset=None):
    data = bytearray(read(path))
    offset = len(data) // 2 if offset is None else offset
    data[offset] ^= 0xFF
    with open(path, "wb") as handle:
        handle.write(bytes(data))


def weights_folders(folder, classifier):
    """Broken weights folders for `mmzoo.load` / the CLI; returns name -> path."""
    shipped = weights_lib.weights_root()
    made = {"other_preset": str(shipped / "sentiment_early" / "avdigits_noisy")}
    trained = os.path.join(folder, "trained")
    weights_lib.save_folder(classifier, trained, preset="sentiment_late")
    for name, damage in [
        ("tampered", lambda f: flip_a_byte(os.path.join(f, weights_lib.WEIGHTS_FILE))),
        ("corrupt_config", lambda f: open(os.path.join(f, weights_lib.CONFIG_FILE),
                                          "w").write("{not json")),
        ("no_weights_file", lambda f: os.remove(os.path.join(f, weights_lib.WEIGHTS_FILE))),
        ("unfinished", lambda f: (os.remove(os.path.join(f, weights_lib.CHECKSUMS_FILE)),
                                  open(os.path.join(f, weights_lib.WEIGHTS_FILE), "w"))),
    ]:
        made[name] = os.path.join(folder, name)
        shutil.copytree(trained, made[name])
        damage(made[name])
    # The shipped folders themselves, one file modified (checked against the manifest).
    made["shipped_root"] = os.path.join(folder, "shipped")
    shutil.copytree(shipped, made["shipped_root"])
    flip_a_byte(os.path.join(made["shipped_root"], "sentiment_late", "avdigits",
                             weights_lib.WEIGHTS_FILE))
    return made


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
        Case("pipeline", r, "query of unknown words only",
             lambda: retrieve.search(text=WORDS, index=image_index, k=1),
             ("out_of_vocabulary",)),
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
        Case("SavedModel", r, "encode_text: unknown words only",
             lambda: raw("retriever", "encode_text")(text=[WORDS]), quoted("text")),
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
         ("candidate_labels",)),
    ]
