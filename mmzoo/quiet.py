"""TensorFlow without its start-up logs (the CLI and the pipelines import it this way).

Importing TensorFlow 2.21 prints 3 to 9 lines on stderr (oneDNN, "Could not find cuda
drivers", CPU instructions, some twice because two of its libraries each log before
absl is initialised), and the first device query adds `E0000 ... failed call to cuInit`
on a machine with CUDA libraries but no GPU. `TF_CPP_MIN_LOG_LEVEL` hides only some of
them, so `import_tensorflow` also imports TensorFlow and queries the devices with file
descriptor 2 redirected, then passes on whatever was not start-up noise.

>>> from mmzoo.quiet import import_tensorflow
>>> tf = import_tensorflow()              # quiet; MMZOO_VERBOSE=1 keeps the logs
>>> tf = import_tensorflow(verbose=True)  # logs as TensorFlow prints them

If a command dies without a message, run it with `--verbose` (or `MMZOO_VERBOSE=1`):
a crash inside TensorFlow's import would otherwise lose its last words.
"""

import os
import re
import sys
import tempfile

VERBOSE_ENV = "MMZOO_VERBOSE"

# absl's C++ log lines ("I0000 00:00:1795856956.376930   11076 port.cc:153] ..."), the
# banner before absl is initialised, and the CPU-instructions continuation line.
_ABSL_LINE = re.compile(r"^([IWEF])\d{4} [\d:.]+\s+\d+ \S+:\d+\] ")
_BANNER = ("WARNING: All log messages before absl::InitializeLog() is called",
           "To enable the following instructions:")
_NOISY_ERRORS = ("failed call to cuInit", "Unable to register cu")


def verbose_requested():
    """True when `MMZOO_VERBOSE` is set to something other than "", "0" or "false"."""
    return os.environ.get(VERBOSE_ENV, "").strip().lower() not in ("", "0", "false")


def is_startup_noise(line):
    """True for a line TensorFlow prints while starting that users need not see."""
    if line.startswith(_BANNER):
        return True
    match = _ABSL_LINE.match(line)
    if not match:
        return False
    severity = match.group(1)
    return severity in "IW" or (severity == "E" and any(w in line for w in _NOISY_ERRORS))


def import_tensorflow(verbose=None):
    """Imports TensorFlow (and initialises its devices) quietly unless `verbose`.

    `verbose=None` reads `MMZOO_VERBOSE`. Quiet mode also sets `TF_CPP_MIN_LOG_LEVEL=3`
    unless it is set already (TensorFlow's C++ logs also print errors users cannot act
    on, e.g. `E0000 ... oneDNN supports DT_BOOL only on platforms with AVX-512` when
    captioning, `NodeDef mentions attribute Truncate` when converting to TFLite; its
    real errors arrive as Python exceptions) and absl's Python logger to errors only.
    Once TensorFlow is imported this only returns it.
    """
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    if verbose is None:
        verbose = verbose_requested()
    if verbose:
        import tensorflow as tf

        return tf
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    captured, tf = _with_stderr_captured(_import_and_list_devices)
    passed_on = [line for line in captured.splitlines() if not is_startup_noise(line)]
    if passed_on:
        print("\n".join(passed_on), file=sys.stderr)
    import absl.logging

    absl.logging.set_verbosity(absl.logging.ERROR)
    return tf


def _import_and_list_devices():
    import tensorflow as tf

    tf.config.list_physical_devices()  # where cuInit runs (and fails without a GPU)
    return tf


def _with_stderr_captured(function):
    """(what was written to file descriptor 2 while `function` ran, its result). If it
    raises, the captured text is written back first, so no message is lost."""
    with captured_output((2,)) as capture:
        result = function()
    return capture.text, result


class captured_output:
    """Sends file descriptors `descriptors` (2: stderr, 1: stdout), C++ writers
    included, to a temporary file while the block runs; `text` holds what was written.
    If the block raises, the text is written to stderr first, so no message is lost.

    >>> with captured_output((1, 2)) as capture:
    ...     converter.convert()
    >>> capture.text
    """

    def __init__(self, descriptors=(2,)):
        self.descriptors = tuple(descriptors)
        self.text = ""

    def __enter__(self):
        sys.stdout.flush()
        sys.stderr.flush()
        self._file = tempfile.TemporaryFile()
        self._saved = [os.dup(descriptor) for descriptor in self.descriptors]
        for descriptor in self.descriptors:
            os.dup2(self._file.fileno(), descriptor)
        return self

    def __exit__(self, kind, error, trace):
        for descriptor, saved in zip(self.descriptors, self._saved):
            (sys.stdout if descriptor == 1 else sys.stderr).flush()
            os.dup2(saved, descriptor)
            os.close(saved)
        self._file.seek(0)
        self.text = self._file.read().decode(errors="replace")
        self._file.close()
        if kind is not None:
            sys.stderr.write(self.text)
        return False
