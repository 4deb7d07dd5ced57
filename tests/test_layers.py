import keras
import numpy as np
import pytest

from mmzoo.layers import (
    MaskedGlobalPooling1D,
    ModalityInputs,
    PaddingMask,
    PixelNormalization,
    TransformerBlock,
)


def test_masked_pooling_matches_numpy(rng):
    x = rng.normal(size=(3, 5, 4)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]], bool)
    mean = MaskedGlobalPooling1D("mean")(x, mask=mask).numpy()
    peak = MaskedGlobalPooling1D("max")(x, mask=mask).numpy()
    np.testing.assert_allclose(mean[0], x[0, :3].mean(0), atol=1e-6)
    np.testing.assert_allclose(peak[1], x[1].max(0), atol=1e-6)
    # A row with no valid step pools to zeros, not NaN / -inf.
    np.testing.assert_array_equal(mean[2], 0.0)
    np.testing.assert_array_equal(peak[2], 0.0)


def test_masked_pooling_rejects_unknown_mode():
    with pytest.raises(ValueError, match="mode"):
        MaskedGlobalPooling1D("median")


def test_padding_mask():
    mask = PaddingMask()(np.array([[4, 2, 0, 0]], "int32")).numpy()
    np.testing.assert_array_equal(mask, [[True, True, False, False]])


@pytest.mark.parametrize("mode, reference", [
    ("unit", lambda x: x / 255.0),
    ("symmetric", keras.applications.mobilenet_v2.preprocess_input),
    ("caffe", keras.applications.resnet50.preprocess_input),
    ("torch", lambda x: keras.applications.imagenet_utils.preprocess_input(
        x, mode="torch")),
    ("raw", lambda x: x),
])
def test_pixel_normalization_matches_keras_applications(mode, reference, rng):
    images = rng.uniform(0, 255, size=(2, 3, 3, 3)).astype("float32")
    out = PixelNormalization(mode)(images).numpy()
    np.testing.assert_allclose(out, reference(images.copy()), rtol=1e-5, atol=1e-4)


def test_modality_inputs_fills_missing_and_marks_presence():
    layer = ModalityInputs({"text": ((1,), "int32"), "image": ((4, 4, 3), "float32")})
    filled, presence = layer({"text": np.ones((2, 3), "int32"), "image": None})
    assert filled["image"].shape == (2, 4, 4, 3)
    np.testing.assert_array_equal(presence["text"], [1, 1])
    np.testing.assert_array_equal(presence["image"], [0, 0])
    with pytest.raises(ValueError, match="At least one modality"):
        layer({"text": None, "image": None})


def test_modality_dropout_keeps_one_modality_per_example():
    layer = ModalityInputs({"a": ((2,), "float32"), "b": ((2,), "float32")},
                           modality_dropout=0.7, seed=3)
    inputs = {"a": np.ones((500, 2), "float32"), "b": np.ones((500, 2), "float32")}
    _, presence = layer(inputs, training=True)
    kept = np.stack([presence["a"], presence["b"]], 1)
    assert kept.sum(1).min() >= 1            # never both dropped
    assert 0.2 < kept.mean() < 0.8           # but some are dropped
    _, presence = layer(inputs, training=False)
    np.testing.assert_array_equal(presence["a"], 1.0)


def test_transformer_block_ignores_padded_keys(rng):
    block = TransformerBlock(num_heads=2, key_dim=4, ffn_dim=8)
    x = rng.normal(size=(1, 4, 8)).astype("float32")
    context = rng.normal(size=(1, 6, 8)).astype("float32")
    context_mask = np.array([[1, 1, 1, 0, 0, 0]], bool)
    out = block(x, context=context, context_mask=context_mask).numpy()
    changed = context.copy()
    changed[:, 3:] = rng.normal(size=(1, 3, 8))
    out_changed = block(x, context=changed, context_mask=context_mask).numpy()
    np.testing.assert_allclose(out, out_changed, atol=1e-6)
    block.get_config()  # serializable
    assert isinstance(keras.layers.deserialize(keras.layers.serialize(block)),
                      TransformerBlock)


def test_folded_call_matches_the_model_with_batch_norms_folded(rng):
    """Conv / depthwise conv + BatchNorm pairs fold (also in a nested model); a conv
    whose output is also used elsewhere does not; outputs equal `model(x)`."""
    from mmzoo.layers.inference import _fold_pairs, folded_call

    inner_in = keras.Input((9, 9, 3))
    x = keras.layers.Conv2D(8, 3, use_bias=False)(inner_in)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Activation("swish")(x)
    x = keras.layers.ZeroPadding2D(((0, 1), (0, 1)))(x)
    x = keras.layers.DepthwiseConv2D(3, strides=2, use_bias=False)(x)
    x = keras.layers.BatchNormalization()(x)
    inner = keras.Model(inner_in, x)
    outer_in = keras.Input((9, 9, 3))
    y = inner(outer_in)
    shared = keras.layers.Conv2D(4, 1, use_bias=False, name="shared")(y)
    z = keras.layers.BatchNormalization()(shared)
    z = keras.layers.Add()([z, shared])
    z = z * keras.layers.GlobalAveragePooling2D(keepdims=True)(z)
    model = keras.Model(outer_in, z)
    for layer in inner.layers + model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            size = layer.moving_mean.shape
            layer.moving_mean.assign(rng.normal(size=size))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, size=size))
            layer.gamma.assign(rng.normal(size=size))
            layer.beta.assign(rng.normal(size=size))
    assert len(_fold_pairs(inner)) == 2 and not _fold_pairs(model)
    images = rng.normal(size=(2, 9, 9, 3)).astype("float32")
    np.testing.assert_allclose(folded_call(model)(images).numpy(),
                               model(images, training=False).numpy(), atol=1e-4)
