"""Every preset, built by name and saved before any vocabulary is adapted, loads with
plain `keras.saving.load_model` (issue 11, item 8), and can still be adapted after."""

import keras
import numpy as np
import pytest

import mmzoo
from mmzoo.preprocessing.text import has_fixed_vocabulary, vocabulary_of
from tests.helpers import SMALL_TEXTS, preset_inputs


# A compiled, never trained model: its saved optimizer has no slots yet (Keras warns).
@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
@pytest.mark.parametrize("preset", mmzoo.list_models())
def test_a_preset_saved_before_adapting_loads_with_plain_keras(preset, tmp_path, rng):
    model = mmzoo.load(preset)
    assert model.text_vectorizers
    # Adapted vocabularies start empty; a pretrained text encoder's (WordPiece) is fixed.
    assert not any(vocabulary_of(v) for v in model.text_vectorizers.values()
                   if not has_fixed_vocabulary(v))
    path = tmp_path / f"{preset}.keras"
    model.save(path)

    loaded = keras.saving.load_model(path)
    assert type(loaded) is type(model)
    for name, vectorizer in loaded.text_vectorizers.items():
        expected_words = vocabulary_of(model.text_vectorizers[name])
        assert vocabulary_of(vectorizer) == expected_words, name
    x = preset_inputs(model, rng, batch=2)
    expected, got = model(x), loaded(x)
    if not isinstance(expected, dict):
        expected, got = {"outputs": expected}, {"outputs": got}
    for key in expected:
        np.testing.assert_allclose(np.asarray(got[key]), np.asarray(expected[key]),
                                   rtol=1e-5, atol=1e-6, err_msg=key)

    loaded.adapt_text(SMALL_TEXTS * 5)  # still a usable model
    assert "good" in vocabulary_of(next(iter(loaded.text_vectorizers.values())))
