"""The classifier's raw inputs: strings, image files and bytes, WAV files and bytes and
arrays in Python (`preprocess`) and in the exported graph (`preprocess_raw`), the
checks of audio arrays, and the serving outputs. `Classifier` mixes this in.

>>> model.preprocess(text="what a day", image="photo.jpg")   # {"text": ids, "image": pixels}
"""

import numpy as np
import tensorflow as tf

from mmzoo.preprocessing import (
    as_string_batch,
    check_clip_length,
    check_vocabulary,
    decode_images,
    decode_wav,
    load_audios,
    load_images,
    pcm_to_float,
)


class ClassifierRawInputs:
    """Raw-input methods of `Classifier` (see its docstring)."""

    # ----- inputs ------------------------------------------------------------------
    @property
    def required_inputs(self):
        return []  # a missing modality is masked inside the fusion layer

    def standardize_inputs(self, inputs):
        """As `Task.standardize_inputs`; integer PCM audio (int16, int32, uint8) is
        scaled to float32 in [-1, 1] as WAV decoding does, and clips shorter than one
        analysis window raise."""
        audio = inputs.get("audio") if isinstance(inputs, dict) else None
        if audio is not None and not tf.is_symbolic_tensor(audio):
            shape = tuple(getattr(audio, "shape", np.shape(audio)))
            if len(shape) == 3:
                raise ValueError(
                    f"Input 'audio' expected mono waveforms [B, samples], received shape "
                    f"{list(shape)}: average the channels first (audio.mean(-1)).")
            if len(shape) == 2:
                check_clip_length(shape[1], self.min_audio_samples, "audio")
            if np.dtype(getattr(getattr(audio, "dtype", None), "as_numpy_dtype",
                                getattr(audio, "dtype", np.float32))).kind in "iu":
                inputs = {**inputs, "audio": pcm_to_float(np.asarray(audio), "audio")}
        return super().standardize_inputs(inputs)

    # ----- raw inputs --------------------------------------------------------------
    def preprocess(self, text=None, image=None, audio=None):
        """Raw inputs -> model inputs (numpy), for the modalities given.

        text: a string or list of strings; image: paths, encoded bytes or arrays
        (grayscale and RGBA are converted, any size is resized); audio: WAV paths,
        WAV bytes or 1-D waveforms at `sample_rate` (padded/cut to `clip_seconds`).
        """
        raw = {"text": text, "image": image, "audio": audio}
        for name, value in raw.items():
            if value is not None and name not in self.modalities:
                raise ValueError(
                    f"This model takes {self.modalities}; it has no '{name}' input.")
        inputs = {}
        if text is not None:
            check_vocabulary(self.text_vectorizer)
            inputs["text"] = self.text_vectorizer(as_string_batch(text)).numpy().astype(
                "int32")
        if image is not None:
            inputs["image"] = load_images(image, self.image_size)
        if audio is not None:
            inputs["audio"] = load_audios(audio, self.sample_rate, self.clip_samples,
                                          min_samples=self.min_audio_samples)
        if not inputs:
            raise ValueError(f"No input given; this model takes {self.modalities}.")
        return inputs

    def raw_signature(self):
        """TensorSpecs of the exported raw-input endpoint: one string per example."""
        return {m: tf.TensorSpec((None,), tf.string, name=m) for m in self.modalities}

    def preprocess_raw(self, raw):
        """Graph version of `preprocess` for the export: strings, image and WAV bytes."""
        inputs = {}
        if "text" in raw:
            inputs["text"] = tf.cast(self.text_vectorizer(raw["text"]), tf.int32)
        if "image" in raw:
            inputs["image"] = decode_images(raw["image"], self.image_size)
        if "audio" in raw:
            inputs["audio"] = tf.map_fn(
                lambda data: decode_wav(data, self.sample_rate, self.clip_samples),
                raw["audio"],
                fn_output_signature=tf.TensorSpec((self.clip_samples,), tf.float32))
        return inputs

    def postprocess_raw(self, predictions):
        """Serving outputs: class scores and the top label per example."""
        labels = tf.constant(self.labels)
        return {"scores": predictions,
                "label": tf.gather(labels, tf.argmax(predictions, axis=-1))}
