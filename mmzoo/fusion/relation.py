"""Relation Network fusion (Santoro et al. 2017, "A simple neural network module for
relational reasoning").

>>> fusion = RelationFusion(["image", "question"], g_units=(256, 256), f_units=(256,))
>>> fusion({"image": grid, "question": q})   # grid [B, N, D] (N = s * s), q [B, Dq]
>>> # -> [B, 256]
"""

import math

import keras
import numpy as np
from keras import ops

from mmzoo.fusion.base import Fusion
from mmzoo.registry import FUSIONS

POOLINGS = ("sum", "mean")


def grid_coordinates(num_objects):
    """`[N, 2]` float32 (x, y) in [-1, 1] of the cells of a row-major s x s grid."""
    side = math.isqrt(num_objects)
    if side * side != num_objects:
        raise ValueError(
            f"RelationFusion adds grid coordinates, so the number of objects must be a "
            f"square (an s x s feature grid); received {num_objects}. Pass "
            "coordinates=False for other object sets.")
    steps = np.linspace(-1.0, 1.0, side) if side > 1 else np.zeros(1)
    rows, cols = np.meshgrid(steps, steps, indexing="ij")
    return np.stack([cols.ravel(), rows.ravel()], -1).astype("float32")


def pool_query(value, mask):
    """A `[B, D]` query from `[B, D]` (unchanged) or `[B, T, D]` (masked mean)."""
    if len(value.shape) == 2:
        return value
    if mask is None:
        return ops.mean(value, axis=1)
    valid = ops.expand_dims(ops.cast(mask, value.dtype), -1)
    return ops.sum(value * valid, axis=1) / ops.maximum(ops.sum(valid, axis=1), 1.0)


@FUSIONS.register("relation")
@keras.saving.register_keras_serializable(package="mmzoo")
class RelationFusion(Fusion):
    """Relation Network: `RN(O, q) = f(sum_{i,j} g([o_i; o_j; q]))`.

    `features`: `{grid: [B, N, D]` objects (e.g. an image backbone's flattened s x s
    feature grid, N = s * s), and for every other modality a condition `[B, D_m]` or
    `[B, T, D_m]` (mean-pooled over `sequence_masks[m]`)}; `q` is their concatenation.
    With `coordinates`, each object is the grid cell's features plus its (x, y) position
    in [-1, 1]: `o_i = [v_i; x_i; y_i]`. `g` is an MLP with ReLU units `g_units` over
    all N^2 ordered pairs (i = j included, as in the paper), `f` one with ReLU units
    `f_units` over the pooled relations (`pooling`: "sum" as in the paper, or "mean"),
    followed by dropout; the task's head adds the output layer. Output `[B, f_units[-1]]`
    (`[B, g_units[-1]]` when `f_units` is empty).

    The first layer of `g` is linear in the concatenation, so it is computed exactly as
    `A o_i + B o_j + C q + b`: N + N projections instead of N^2, before the ReLU.
    A missing condition modality (presence 0) is zeroed; a missing grid zeroes the
    pooled relations.
    """

    input_kind = "sequence"
    # The VQA task passes its question encoder's pooled vector rather than its words.
    pooled_queries = True

    def __init__(self, modalities, g_units=(256, 256, 256, 256), f_units=(256,),
                 dropout=0.5, grid="image", coordinates=True, pooling="sum", **kwargs):
        super().__init__(modalities, **kwargs)
        if grid not in self.modalities:
            raise ValueError(f"RelationFusion: grid={grid!r} is not one of the modalities "
                             f"{self.modalities}.")
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, received {pooling!r}.")
        self.g_units = [int(u) for u in g_units]
        if not self.g_units:
            raise ValueError("RelationFusion needs at least one g layer (g_units).")
        self.f_units = [int(u) for u in f_units]
        self.dropout = float(dropout)
        self.grid = grid
        self.conditions = [m for m in self.modalities if m != grid]
        self.coordinates = bool(coordinates)
        self.pooling = pooling
        policy = self.dtype_policy
        self.g_layers = {f"g_{i}": keras.layers.Dense(u, dtype=policy, name=f"g_{i}")
                         for i, u in enumerate(self.g_units)}
        self.f_layers = {f"f_{i}": keras.layers.Dense(u, activation="relu", dtype=policy,
                                                      name=f"f_{i}")
                         for i, u in enumerate(self.f_units)}
        self.dropout_layer = keras.layers.Dropout(self.dropout, dtype=policy, name="dropout")

    def build(self, features_shape, presence_shape=None, sequence_masks_shape=None):
        grid_shape = features_shape[self.grid]
        if len(grid_shape) != 3 or grid_shape[1] is None:
            raise ValueError(
                f"RelationFusion: '{self.grid}' must be a grid [B, N, D] with a known N, "
                f"received shape {list(grid_shape)}.")
        num_objects = grid_shape[1]
        self._coords = grid_coordinates(num_objects) if self.coordinates else None
        object_dim = grid_shape[-1] + (2 if self.coordinates else 0)
        self._object_dim = object_dim
        query_dim = sum(features_shape[m][-1] for m in self.conditions)
        width = 2 * object_dim + query_dim
        for i, units in enumerate(self.g_units):
            self.g_layers[f"g_{i}"].build((None, width))
            width = units
        for i, units in enumerate(self.f_units):
            self.f_layers[f"f_{i}"].build((None, width))
            width = units

    def objects(self, grid):
        """`[B, N, D (+2)]`: the grid cells, with their coordinates appended."""
        grid = ops.cast(grid, self.compute_dtype)
        if self._coords is None:
            return grid
        coords = ops.cast(ops.convert_to_tensor(self._coords), self.compute_dtype)
        coords = ops.broadcast_to(ops.expand_dims(coords, 0),
                                  (ops.shape(grid)[0], *self._coords.shape))
        return ops.concatenate([grid, coords], axis=-1)

    def call(self, features, presence=None, sequence_masks=None, training=None):
        weights = self.presence_weights(features, presence)
        masks = sequence_masks or {}
        objects = self.objects(features[self.grid])  # [B, N, Do]
        first = self.g_layers["g_0"]
        kernel = ops.cast(first.kernel, self.compute_dtype)
        d = self._object_dim
        left = ops.matmul(objects, kernel[:d])            # o_i's share, [B, N, w]
        right = ops.matmul(objects, kernel[d:2 * d])      # o_j's share
        context = ops.cast(first.bias, self.compute_dtype)
        if self.conditions:
            query = ops.concatenate(
                [ops.cast(pool_query(features[m], masks.get(m)), self.compute_dtype)
                 * weights[m] for m in self.conditions], axis=-1)
            context = context + ops.matmul(query, kernel[2 * d:])  # [B, w]
            context = ops.expand_dims(ops.expand_dims(context, 1), 1)
        pairs = ops.relu(ops.expand_dims(left, 2) + ops.expand_dims(right, 1) + context)
        num_objects = objects.shape[1]
        x = ops.reshape(pairs, (-1, num_objects * num_objects, self.g_units[0]))
        for i in range(1, len(self.g_units)):
            x = ops.relu(self.g_layers[f"g_{i}"](x))
        # Pooled in float32: a sum over N^2 pairs can overflow float16.
        x = ops.cast(x, "float32")
        x = ops.sum(x, axis=1) if self.pooling == "sum" else ops.mean(x, axis=1)
        x = ops.cast(x, self.compute_dtype) * weights[self.grid]
        for i in range(len(self.f_units)):
            x = self.f_layers[f"f_{i}"](x)
        return self.dropout_layer(x, training=training)

    def compute_output_shape(self, features_shape, presence_shape=None,
                             sequence_masks_shape=None):
        units = self.f_units[-1] if self.f_units else self.g_units[-1]
        return (features_shape[self.grid][0], units)

    def get_config(self):
        return {**super().get_config(), "g_units": list(self.g_units),
                "f_units": list(self.f_units), "dropout": self.dropout, "grid": self.grid,
                "coordinates": self.coordinates, "pooling": self.pooling}
