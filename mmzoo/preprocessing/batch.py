"""One raw input or a batch of them; reading files named by raw inputs."""

import os
import re

import numpy as np

from mmzoo.preprocessing import samples


def is_batch(value, batch_rank):
    """True for a list/tuple, or an array of rank `batch_rank` (e.g. 4 for images)."""
    if isinstance(value, (list, tuple)):
        return True
    return isinstance(value, np.ndarray) and value.ndim == batch_rank


def as_items(value, batch_rank, name):
    """The items of a batch, or `[value]` for a single item; an empty batch raises."""
    items = list(value) if is_batch(value, batch_rank) else [value]
    if not items:
        raise ValueError(f"'{name}' is an empty batch; pass at least one item.")
    return items


def read_file(path, name, kind):
    """The bytes of file `path` ("sample:NAME" for a bundled sample, see
    `mmzoo.preprocessing.samples`); errors name the input and say what is wrong."""
    try:
        path = samples.resolve(os.fspath(path), kind)
    except ValueError as error:
        raise ValueError(f"'{name}': {error}") from None
    if os.path.isdir(path):
        raise ValueError(f"'{name}': {path} is a directory; expected an {kind} file.")
    if not os.path.exists(path):
        raise FileNotFoundError(f"'{name}': no such {kind} file: {path}")
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as error:
        raise ValueError(f"'{name}': cannot read {kind} file {path}: {error.strerror}.") from None


def tf_error_message(error):
    """The useful line of a TensorFlow error: an mmzoo assertion's own message, else the
    first line (without the graph trace TensorFlow appends)."""
    text = getattr(error, "message", str(error))
    if "Summarized data: " in text:  # an assertion that failed eagerly
        first = text.split("Summarized data: ", 1)[1].strip().splitlines()[0]
        return first[2:-1] if first[:2] in ("b'", 'b"') else first
    if "assertion failed: [" in text:
        text = text.split("assertion failed: [", 1)[1]
        return text.split("]", 1)[0].replace("\\'", "'")
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if lines and lines[0].startswith("Graph execution error"):
        # Then "Detected at node ... :", a stack trace, and the op's own message.
        trace = ("Detected at node", "<stack traces unavailable>", "File ", "[[", "Graph ")
        causes = [line for line in lines[1:] if not line.startswith(trace)]
        lines = causes or lines
    if not lines:
        return type(error).__name__
    # An eager op's error: "{{function_node ...}} <message> [Op:DecodeImage] name: ".
    line = re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", lines[0])
    return re.sub(r"\s*\[Op:[^\]]*\]( name:.*)?$", "", line) or lines[0]
