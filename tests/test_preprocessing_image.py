"""Graph-side image decoding (the serving endpoints' path)."""

import numpy as np
import pytest
import tensorflow as tf

from mmzoo.preprocessing.image import decode_images


def _decode_nodes(graph_def):
    """(DecodeImage node, {name: op} of its function) for every function in the graph."""
    for function in graph_def.library.function:
        ops = {node.name: node.op for node in function.node_def}
        for node in function.node_def:
            if node.op == "DecodeImage":
                yield node, ops


def test_the_empty_bytes_check_runs_before_the_decode_in_the_batch_graph():
    # Inside tf.map_fn nothing else orders the check before DecodeImage, whose own
    # "Input is empty" error then replaced ours some of the time (a SavedModel on CI).
    graph = tf.function(lambda data: decode_images(data, 8)).get_concrete_function(
        tf.TensorSpec([None], tf.string)).graph
    found = list(_decode_nodes(graph.as_graph_def()))
    assert found
    for node, ops in found:
        controls = [name[1:].split(":")[0] for name in node.input if name.startswith("^")]
        assert any(ops.get(name) == "Assert" for name in controls), list(node.input)


def test_decoding_a_batch_and_rejecting_empty_bytes():
    png = tf.io.encode_png(tf.fill((3, 5, 1), tf.constant(200, tf.uint8)))
    decode = tf.function(lambda data: decode_images(data, 8))
    out = decode(tf.stack([png, png]))
    assert out.shape == (2, 8, 8, 3)
    np.testing.assert_allclose(out.numpy(), 200.0)
    with pytest.raises(tf.errors.InvalidArgumentError, match="image bytes are empty"):
        decode(tf.constant([b""]))
