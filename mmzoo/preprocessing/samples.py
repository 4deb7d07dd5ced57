"""Bundled samples by name: `"sample:digit_7"` wherever an image or WAV path is taken.

`mmzoo/samples/<family>/<name>.<png|jpg|wav>` (sources and licences in its README):
`digit_0` ... `digit_9` (an MNIST image and a spoken digit each: the same name gives the
image to `image=` and the recording to `audio=`), `blue_circle` (easy-VQA style) and
the photographs `astronaut`, `chelsea`, `coffee`.

>>> sample_path("digit_7", "image").name
'digit_7.png'
>>> classify(image="sample:digit_7", audio="sample:digit_7")   # any pipeline
"""

import difflib
import pathlib

PREFIX = "sample:"
SAMPLES_DIR = pathlib.Path(__file__).resolve().parents[1] / "samples"
SUFFIXES = {"image": (".png", ".jpg"), "audio": (".wav",)}


def sample_names(kind):
    """Sorted names of the bundled samples of `kind` ("image" or "audio")."""
    return sorted(path.stem for path in _files(kind))


def sample_path(name, kind):
    """The file of bundled sample `name` for `kind`; an unknown name raises a
    ValueError that lists the samples of that kind."""
    for path in _files(kind):
        if path.stem == name:
            return path
    names = sample_names(kind)
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    hint = f" Did you mean 'sample:{close[0]}'?" if close else ""
    raise ValueError(f"No bundled {kind} sample named {name!r}.{hint} "
                     f"{kind.capitalize()} samples: {', '.join(names)}.")


def resolve(path, kind):
    """`path`, or the bundled file it names when it is "sample:NAME"."""
    if isinstance(path, str) and path.startswith(PREFIX):
        return str(sample_path(path[len(PREFIX):], kind))
    return path


def _files(kind):
    if kind not in SUFFIXES:
        raise ValueError(f"kind must be one of {sorted(SUFFIXES)}, received {kind!r}.")
    return sorted(path for path in SAMPLES_DIR.glob("*/*") if path.suffix in SUFFIXES[kind])
