"""Bad inputs raise errors that name the input: in Python, inside `tf.function`, in the
exported SavedModel and in the CLI. One test per kind of input a user got wrong."""

import numpy as np
import pytest
import tensorflow as tf

import mmzoo
from mmzoo.preprocessing import decode_wav, load_audios, pcm_to_float
from tests.helpers import TEXTS
from tests.test_cli import run_cli

SAMPLES = mmzoo.__path__[0] + "/samples/avdigits"


@pytest.fixture(scope="module")
def classifier():
    model = mmzoo.load("sentiment_early", modalities=("text", "image", "audio"),
                       sample_rate=8000, image_size=32, num_classes=3)
    model.adapt_text(TEXTS)
    return model


@pytest.fixture(scope="module")
def exported(classifier, tmp_path_factory):
    folder = tmp_path_factory.mktemp("exported") / "model"
    mmzoo.export(classifier, folder)
    return tf.saved_model.load(str(folder)).signatures["serving_default"]


def _png(rng, size=20):
    return tf.io.encode_png(rng.integers(0, 255, (size, size, 3)).astype("uint8")).numpy()


def _wav(rng, samples=4000, rate=8000):
    return tf.audio.encode_wav(rng.normal(size=(samples, 1)).astype("float32") * 0.1,
                               rate).numpy()


# ----- audio arrays (item 2) --------------------------------------------------------------
def test_integer_pcm_is_scaled_like_wav_decoding(classifier, rng):
    pcm = (rng.uniform(-1, 1, 8000) * 30000).astype("int16")
    wav = tf.audio.encode_wav(pcm[:, None].astype("float32") / 32768.0, 8000).numpy()
    from_wav = decode_wav(wav, 8000).numpy()
    np.testing.assert_allclose(pcm_to_float(pcm), from_wav, atol=1e-6)
    np.testing.assert_allclose(pcm_to_float(pcm.astype("int32") * 65536), from_wav, atol=1e-6)
    as_float = classifier({"audio": pcm[None].astype("float32") / 32768.0})
    np.testing.assert_allclose(classifier({"audio": pcm[None]}), as_float, atol=1e-6)
    pipe = mmzoo.pipeline(classifier)
    assert pipe(audio=pcm, top_k=3) == pipe(audio=pcm.astype("float32") / 32768.0, top_k=3)


def test_a_stereo_array_is_down_mixed_in_a_list_and_rejected_as_a_batch(classifier, rng):
    stereo = rng.uniform(-0.5, 0.5, (8000, 2)).astype("float32")
    down_mixed = load_audios([stereo], 8000, 8000)
    np.testing.assert_allclose(down_mixed[0], stereo.mean(axis=1), atol=1e-7)
    with pytest.raises(ValueError, match=r"'audio\[0\]' has 2 samples.*down-mix"):
        mmzoo.pipeline(classifier)(audio=stereo)
    with pytest.raises(ValueError, match="'audio' has 2 samples"):
        classifier({"audio": stereo})
    with pytest.raises(ValueError, match=r"mono waveforms \[B, samples\].*audio.mean"):
        classifier({"audio": stereo[None]})


def test_audio_shorter_than_one_window_is_named(classifier):
    with pytest.raises(ValueError, match="'audio' has 50 samples; at least 200"):
        mmzoo.pipeline(classifier)(audio=np.zeros(50, "float32"))


# ----- non-finite values (item 3) ----------------------------------------------------------
@pytest.mark.parametrize("name", ["image", "audio"])
def test_nan_and_inf_are_rejected_in_python(classifier, name, rng):
    value = {"image": rng.uniform(0, 255, (2, 32, 32, 3)).astype("float32"),
             "audio": rng.normal(size=(2, 8000)).astype("float32")}[name]
    value.flat[3] = np.nan
    value.flat[5] = np.inf
    with pytest.raises(ValueError, match=f"Input '{name}' holds 2 NaN or infinite"):
        classifier({name: value})
    with pytest.raises(ValueError, match=f"'{name}' holds NaN or infinite"):
        mmzoo.pipeline(classifier)(**{name: value[0]})


def test_nan_is_rejected_in_a_graph(classifier, rng):
    call = tf.function(lambda audio: classifier({"audio": audio}),
                       input_signature=[tf.TensorSpec((None, None), tf.float32)])
    audio = rng.normal(size=(1, 8000)).astype("float32")
    audio[0, 7] = np.nan
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="Input `audio` holds NaN or infinite values"):
        call(audio)


# ----- batch sizes in a graph (item 4) -----------------------------------------------------
def test_batch_sizes_are_checked_inside_tf_function(classifier, rng):
    call = tf.function(
        lambda image, audio: classifier({"image": image, "audio": audio}),
        input_signature=[tf.TensorSpec((None, None, None, 3)), tf.TensorSpec((None, None))])
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="Input `audio` has a batch size that disagrees"):
        call(rng.uniform(0, 255, (2, 32, 32, 3)).astype("float32"),
             rng.normal(size=(1, 8000)).astype("float32"))


def test_the_saved_model_checks_batches_and_serves_any_subset(classifier, exported, rng):
    image, wav = _png(rng), _wav(rng)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="Input `audio` has a batch size that disagrees"):
        exported(text=tf.constant(["a good day", "a bad day"]),
                 image=tf.constant([image, image]), audio=tf.constant([wav]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="Every input is an empty batch"):
        exported(text=tf.constant([], tf.string), image=tf.constant([], tf.string),
                 audio=tf.constant([], tf.string))
    # An empty batch leaves a modality out (item 11): the same as the Python model.
    served = exported(text=tf.constant([], tf.string), image=tf.constant([image]),
                      audio=tf.constant([], tf.string))["scores"].numpy()
    pixels = mmzoo.pipeline(classifier).model.preprocess(image=image)["image"]
    np.testing.assert_allclose(served, classifier({"image": pixels}), atol=1e-5)


# ----- raw bytes in the SavedModel (items 5, 17) -------------------------------------------
@pytest.mark.parametrize("case, message", [
    ("header_only_wav", "Input `audio`: the WAV file holds no samples"),
    ("eight_bit_wav", "Input `audio`: only 16-bit PCM WAV is supported"),
    ("not_a_wav", "Input `audio` is not a WAV file"),
    ("empty_image", "Input `image`: image bytes are empty"),
    ("not_an_image", "Input `image` is not a PNG, JPEG, GIF or BMP image"),
])
def test_bad_bytes_name_the_input_in_the_saved_model(exported, case, message, rng):
    image, wav = _png(rng), _wav(rng)
    header = bytearray(wav[:44])
    header[40:44] = (0).to_bytes(4, "little")
    eight_bit = bytearray(wav)
    eight_bit[34:36] = (8).to_bytes(2, "little")
    raw = {"image": image, "audio": wav}
    raw.update({"header_only_wav": {"audio": bytes(header)},
                "eight_bit_wav": {"audio": bytes(eight_bit)},
                "not_a_wav": {"audio": b"RIFX not a wav file at all"},
                "empty_image": {"image": b""},
                "not_an_image": {"image": b"GIF9 nope"}}[case])
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        exported(text=tf.constant(["a good day"]), image=tf.constant([raw["image"]]),
                 audio=tf.constant([raw["audio"]]))


# ----- integers and numbers (items 5, 6, 17) -----------------------------------------------
@pytest.mark.parametrize("overrides, message", [
    ({"num_classes": 2.7}, "num_classes must be an integer, received 2.7"),
    ({"num_classes": "3"}, "num_classes must be an integer"),
    ({"image_size": -5}, "image_size must be at least 8, received -5"),
    ({"sample_rate": 0}, "sample_rate must be at least 1, received 0"),
])
def test_constructor_numbers_are_checked(overrides, message):
    with pytest.raises(ValueError, match=message):
        mmzoo.load("sentiment_late", **overrides)


def test_integral_floats_are_accepted():
    assert mmzoo.load("sentiment_late", num_classes=3.0).num_classes == 3


@pytest.mark.parametrize("top_k", [1.7, None, "2", 0])
def test_top_k_must_be_a_positive_integer(classifier, top_k):
    with pytest.raises(ValueError, match="top_k must be"):
        mmzoo.pipeline(classifier)(text="a good day", top_k=top_k)


def test_non_finite_decoding_arguments_are_rejected():
    from mmzoo.tasks.captioning.decoding import check_decoding_arguments

    with pytest.raises(ValueError, match="length_penalty must be a finite number"):
        check_decoding_arguments(10, 3, length_penalty=float("nan"))
    with pytest.raises(ValueError, match="temperature must be a positive finite"):
        check_decoding_arguments(10, 1, temperature=float("inf"))


# ----- text (items 5, 17) --------------------------------------------------------------------
def test_non_utf8_text_bytes_are_named(classifier):
    with pytest.raises(ValueError, match="'text' item 0 is not valid UTF-8"):
        mmzoo.pipeline(classifier)(text=[b"caf\xe9"])


# ----- files and the CLI (item 17) ---------------------------------------------------------
def test_a_directory_given_as_an_image_is_named(classifier, tmp_path):
    with pytest.raises(ValueError, match="is a directory; expected an image file"):
        mmzoo.pipeline(classifier)(image=str(tmp_path))
    result = run_cli("predict", "sentiment_late", "--weights", "avdigits",
                     "--image", str(tmp_path), "--audio", f"{SAMPLES}/digit_7.wav")
    assert result.returncode == 2
    assert "is a directory" in result.stderr and "Traceback" not in result.stderr


def test_non_utf8_text_is_named_in_the_graph(classifier):
    """The SavedModel's text path (TensorFlow's string ops read any bytes)."""
    vectorize = tf.function(lambda texts: classifier.text_vectorizer(texts))
    assert vectorize(tf.constant(["a good day", "café"])).shape[0] == 2
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="Input `text` holds bytes that are not valid UTF-8"):
        vectorize(tf.constant([b"a good day", b"\xff\xfe day"]))


def test_the_captioner_endpoints_check_their_images():
    captioner = mmzoo.load("caption_sat", image_backbone="simple_cnn", image_weights=None,
                           word_embeddings=None, image_size=32, vocab_size=20,
                           sequence_length=4, embed_dim=8, lstm_units=8,
                           attention_units=8, image_options={"filters": [4]},
                           min_word_count=1)
    captioner.adapt_text(["a dog runs", "a cat sits"])
    function, signature = captioner.serving_endpoints()["serve_images"]
    serve_images = tf.function(function, input_signature=signature)  # as exported
    pixels = np.zeros((1, 20, 20, 3), "float32")
    assert serve_images({"image": pixels})["captions"].shape == (1,)
    for bad, message in [(pixels * np.nan, "Input `image` holds NaN"),
                         (pixels[:0], r"empty batch \(`image`\)")]:
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            serve_images({"image": bad})


def test_graph_errors_are_reduced_to_the_ops_message():
    from mmzoo.preprocessing.batch import tf_error_message

    error = tf.errors.InvalidArgumentError(None, None, (
        "Graph execution error:\n\nDetected at node model/All defined at (most recent "
        "call last):\n<stack traces unavailable>\nInvalid reduction dimension (3 for "
        "input with 3 dimension(s)\n\t [[{{node model/All}}]] [Op:__inference_serve_1]"))
    assert tf_error_message(error) == "Invalid reduction dimension (3 for input with 3 " \
        "dimension(s)"
    eager = tf.errors.InvalidArgumentError(None, None, (
        "{{function_node __wrapped__DecodeImage_device_/job:localhost/replica:0/task:0/"
        "device:CPU:0}} Invalid GIF data (size 13) [Op:DecodeImage] name: "))
    assert tf_error_message(eager) == "Invalid GIF data (size 13)"
