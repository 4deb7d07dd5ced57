"""A tiny pretrained source for the cache tests: its converter doubles a vector."""

import numpy as np


def convert(package_dir, out_dir):
    vector = np.load(package_dir / "data" / "vector.npy")
    np.save(out_dir / "doubled.npy", vector * 2)
