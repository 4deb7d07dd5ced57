"""A switch for graphs that must stay plain: traced under `plain_graphs()`, mmzoo models
leave out their run-time input assertions and the branch that treats an empty batch as
an absent modality. TFLite needs this: it has no assertion op, and its converter loses
static shapes through that branch (a converted model would then need TensorFlow's Flex
ops).

>>> with plain_graphs():
...     mmzoo.export(model, folder)   # for tf.lite.TFLiteConverter
"""

import contextlib
import threading

_STATE = threading.local()


@contextlib.contextmanager
def plain_graphs():
    previous = getattr(_STATE, "plain", False)
    _STATE.plain = True
    try:
        yield
    finally:
        _STATE.plain = previous


def graphs_are_plain():
    return getattr(_STATE, "plain", False)
