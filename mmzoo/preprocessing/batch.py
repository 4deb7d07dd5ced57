"""One raw input or a batch of them."""

import numpy as np


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
