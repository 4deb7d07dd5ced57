"""What the cases of `benchmarks/robustness.py` share: the `Case` row, how a message
names an input, and the broken files and weights folders the cases read.

>>> files = write_files(folder)       # {"wav8bit": path, "header_wav": path, ...}
>>> folders = weights_folders(folder, classifier)   # {"tampered": path, ...}
"""

import dataclasses
import os
import shutil
import wave

import numpy as np
import tensorflow as tf

import mmzoo
from mmzoo import weights as weights_lib



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
    header = tf.audio.encode_wav(np.zeros((0, 1), np.float32), 8000).numpy()
    write(files["header_wav"], header)
    files["text_png"] = os.path.join(folder, "notes.png")
    write(files["text_png"], b"not an image\n")
    files["directory"] = os.path.join(folder, "a_folder.png")
    os.makedirs(files["directory"], exist_ok=True)
    files["missing"] = os.path.join(folder, "missing.png")
    files["empty_dir"] = os.path.join(folder, "empty_data")
    os.makedirs(files["empty_dir"], exist_ok=True)
    return files


def read(path):
    with open(path, "rb") as handle:
        return handle.read()


def write(path, data):
    with open(path, "wb") as handle:
        handle.write(data)


def flip_a_byte(path, offset=None):
    data = bytearray(read(path))
    offset = len(data) // 2 if offset is None else offset
    data[offset] ^= 0xFF
    write(path, bytes(data))


def weights_folders(folder, classifier):
    """Broken weights folders for `mmzoo.load` / the CLI; returns name -> path."""
    shipped = weights_lib.weights_root()
    made = {"other_preset": str(shipped / "sentiment_early" / "avdigits_noisy")}
    trained = os.path.join(folder, "trained")
    weights_lib.save_folder(classifier, trained, preset="sentiment_late")
    for name, damage in [
        ("tampered", lambda f: flip_a_byte(os.path.join(f, weights_lib.WEIGHTS_FILE))),
        ("corrupt_config", lambda f: write(os.path.join(f, weights_lib.CONFIG_FILE),
                                           b"{not json")),
        ("no_weights_file", lambda f: os.remove(os.path.join(f, weights_lib.WEIGHTS_FILE))),
        ("unfinished", lambda f: (os.remove(os.path.join(f, weights_lib.CHECKSUMS_FILE)),
                                  write(os.path.join(f, weights_lib.WEIGHTS_FILE), b""))),
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
