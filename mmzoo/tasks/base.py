"""What every mmzoo task model shares.

A task is a functional `keras.Model` built from its constructor arguments (the
KerasHub pattern): `get_config()` returns those arguments, so `.keras` files reload
with plain `keras.saving.load_model`. The base class adds input validation with errors
that name the input, dict inputs with optional modalities, and text vocabularies.
"""

import difflib

import keras
import numpy as np
import tensorflow as tf

from mmzoo.preprocessing.text import check_vocabulary, has_fixed_vocabulary, vocabulary_of
from mmzoo.tasks.building import (INITIALIZER_OPTIONS, built_under_dtype_policy,
                                  plain_structure)
from mmzoo.tasks.compiled import encoded_batch, run_compiled, run_encoded
from mmzoo.tasks.feature_cache import fit_with_cached_features
from mmzoo.tasks.inputs import check_arrays, graph_checks, is_symbolic
from mmzoo.tasks.distributed_fit import DistributedFit

class Task(DistributedFit, keras.Model):
    """Base class of mmzoo models. Subclasses call `super().__init__(inputs=..., outputs=...)`
    with a dict of named inputs, then `self._set_config(...)`.

    >>> model = mmzoo.load("sentiment_late")
    >>> model({"image": images, "audio": waves})   # any subset of the modalities
    """

    # name -> (numpy dtype kinds accepted, description); subclasses refine.
    input_dtype_kinds = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = built_under_dtype_policy(cls.__dict__["__init__"])

    def _set_config(self, config):
        self._task_config = dict(config)

    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable}
        if getattr(self, "_explicit_dtype", None) is not None:
            config["dtype"] = self._explicit_dtype
        config.update(self._task_config)
        for input_name, vectorizer in self.text_vectorizers.items():
            if not has_fixed_vocabulary(vectorizer):
                config[self.vocabulary_argument(input_name)] = vocabulary_of(vectorizer) or None
        return config

    # ----- pretrained initial weights ---------------------------------------------------
    @property
    def pretrained_init(self):
        """The constructor overrides that give this model its pretrained initial weights
        (ImageNet, MiniLM, Whisper, GloVe...). `get_config` leaves them out (a saved
        model's weights come from its file, never a new download); `mmzoo.weights`
        records them beside a weights folder that holds only the trained variables."""
        # A plain copy: Keras wraps dict attributes in TrackedDicts, whose deepcopy
        # pickles the whole model.
        return plain_structure(getattr(self, "_pretrained_init", {}))

    def rebuilt_with_pretrained_init(self):
        """A new model of this config at its pretrained initialisation (untrained)."""
        config = self.get_config()
        for key, value in self.pretrained_init.items():
            config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
        return type(self).from_config(config)

    def _record_pretrained_init(self, **named):
        """Keeps the initialisers among constructor arguments `named` (`image_weights=`,
        or `*_options=` dicts whose "weights" / "embeddings" entries are set)."""
        init = {}
        for key, value in named.items():
            if isinstance(value, dict):
                chosen = {k: v for k, v in value.items()
                          if k in INITIALIZER_OPTIONS and v is not None}
                if chosen:
                    init[key] = chosen
            elif value is not None:
                init[key] = value
        self._pretrained_init = init

    @property
    def text_backbones(self):
        """dict text input name -> its backbone layer (for pretrained embeddings)."""
        return {}

    def _initialize_embeddings(self):
        """Writes pretrained word vectors (`embeddings=` of a word-level text backbone)
        for the current vocabulary; returns {input name: coverage}."""
        from mmzoo.pretrained.glove import initialize_embedding

        coverage = {}
        for name, sources in self._embedding_sources().items():
            vectorizer = self.text_vectorizers.get(name)
            words = vocabulary_of(vectorizer) if vectorizer is not None else []
            if words:
                coverage[name] = initialize_embedding(self.text_backbones[name], words,
                                                      sources)
        self.embedding_coverage = coverage
        return coverage

    def _embedding_sources(self):
        options = self.pretrained_init
        return {name: options[self.options_argument(name)]["embeddings"]
                for name in self.text_backbones
                if "embeddings" in options.get(self.options_argument(name), {})}

    def options_argument(self, input_name):
        """The constructor argument holding the options of `input_name`'s backbone."""
        return "text_options"

    def compile_from_config(self, config):
        # Keras skips restoring the compile state of models with a custom compile();
        # ours takes the standard arguments, so restore it.
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if self.built:
            self.optimizer.build(self.trainable_variables)

    # ----- text vocabularies -------------------------------------------------------
    @property
    def text_vectorizers(self):
        """dict input name -> `TextVectorization` for the model's text inputs."""
        return {}

    def vocabulary_argument(self, input_name):
        return "vocabulary"

    def adapt_text(self, texts, input_name=None, batch_size=256):
        """Builds the text vocabulary from `texts` (a list of strings or a string dataset),
        and writes pretrained word vectors for it when the backbone takes them. Inputs
        whose tokenizer has a fixed vocabulary (MiniLM's WordPiece) are left as they are.
        """
        vectorizers = self.text_vectorizers
        if not vectorizers:
            raise ValueError(f"{type(self).__name__} has no text input to adapt.")
        input_name = input_name or next(iter(vectorizers))
        if input_name not in vectorizers:
            raise ValueError(
                f"Unknown text input {input_name!r}; expected one of {list(vectorizers)}."
            )
        if has_fixed_vocabulary(vectorizers[input_name]):
            return self
        vectorizers[input_name].adapt(texts, batch_size=batch_size)
        self._initialize_embeddings()
        return self

    # ----- export --------------------------------------------------------------------
    def tensor_signature(self):
        """TensorSpecs of the model's own inputs (every input present)."""
        return {
            name: tf.TensorSpec(tensor.shape, tensor.dtype, name=name)
            for name, tensor in self._inputs_struct.items()
        }

    def serving_endpoints(self):
        """name -> (function, input_signature) for `mmzoo.export`; the first is the
        SavedModel's `serving_default`."""
        for vectorizer in self.text_vectorizers.values():
            check_vocabulary(vectorizer, type(self).__name__)

        def serve(raw):
            outputs = self(self.preprocess_raw(raw), training=False)
            return self.postprocess_raw(outputs)

        def serve_tensors(inputs):
            return {"scores": self(inputs, training=False)}

        return {
            "serve": (serve, [self.raw_signature()]),
            "serve_tensors": (serve_tensors, [self.tensor_signature()]),
        }

    # ----- inputs ------------------------------------------------------------------
    @property
    def input_names(self):
        return list(self._inputs_struct)

    def standardize_inputs(self, inputs):
        """Checks `inputs` and returns the full input dict (None for absent modalities)."""
        names = self.input_names
        if not isinstance(inputs, dict):
            if len(names) == 1:
                inputs = {names[0]: inputs}
            else:
                raise ValueError(
                    f"{type(self).__name__} expects a dict keyed by input name "
                    f"{names}, received {type(inputs).__name__}."
                )
        unknown = [key for key in inputs if key not in names]
        if unknown:
            close = difflib.get_close_matches(str(unknown[0]), names, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"Unknown input name {unknown[0]!r}.{hint} This model takes {names}."
            )
        given = {key: value for key, value in inputs.items() if value is not None}
        if not given:
            raise ValueError(f"No input given; this model takes {names}.")
        missing = [name for name in self.required_inputs if name not in given]
        if missing:
            raise ValueError(self.missing_input_message(missing[0]))
        self.check_inputs(given)
        return {name: inputs.get(name) for name in names}

    def check_inputs(self, given):
        """Raises a ValueError naming the input for arrays that do not fit the model's
        inputs (see `mmzoo.tasks.inputs.check_arrays`)."""
        check_arrays(given, self._inputs_struct, self.input_dtype_kinds)

    @property
    def required_inputs(self):
        """Inputs every call needs (all of them, unless the task masks missing ones)."""
        return self.input_names

    def missing_input_message(self, name):
        return f"Input '{name}' is missing: {type(self).__name__} needs all of {self.input_names}."

    def __call__(self, inputs, *args, **kwargs):
        """`model(x)` is inference unless `training=True` is passed (no call outside
        `fit` changes a variable); eager inputs are checked first."""
        if is_symbolic(inputs):
            return super().__call__(inputs, *args, **kwargs)
        inputs = self.standardize_inputs(inputs)
        if any(isinstance(value, tf.Tensor) for value in inputs.values()):
            # Keras refuses a dict that mixes tensors with the numpy arrays that
            # standardizing may return (e.g. scaled PCM audio in an eager `fit` step).
            inputs = {name: value if value is None or isinstance(value, tf.Tensor)
                      else tf.convert_to_tensor(value) for name, value in inputs.items()}
        if not args:
            kwargs.setdefault("training", False)
        return super().__call__(inputs, *args, **kwargs)

    def infer(self, inputs):
        """`model(inputs)` (inference, the same checks, the same outputs) through a
        compiled function traced once per set of inputs given and kept with the model:
        a few milliseconds at batch 1 where the eager call takes 60-300 ms. Pipelines
        and `predict` on small batches use it (see `mmzoo.tasks.compiled`).

        >>> model.infer({"image": pixels, "audio": waves})   # == model(x), compiled
        """
        return run_compiled(self, self.standardize_inputs(inputs))

    def infer_raw(self, **raw):
        """`infer(preprocess(**raw))`, the pipelines' call: in one compiled call with
        the decoding inside (as the exported SavedModel's `serve`) when every input is
        encoded (file paths, bytes, strings, or equal-length lists of them); through
        `preprocess`, whose errors name the input, for anything else and for inputs
        the graph rejects.

        >>> model.infer_raw(image="seven.png", audio="seven.wav")   # [1, classes]
        """
        batch = encoded_batch(self, raw)
        if batch is not None:
            for name in set(batch) & set(self.text_vectorizers):
                check_vocabulary(self.text_vectorizers[name], type(self).__name__)
            try:
                return run_encoded(self, batch)
            except tf.errors.InvalidArgumentError:
                pass  # bad bytes: `preprocess` below raises the ValueError naming them
        return self.infer(self.preprocess(**raw))

    def call(self, inputs, training=None, mask=None):
        if isinstance(inputs, dict) and not is_symbolic(inputs):
            inputs = graph_checks(
                inputs, empty_means_absent=not self.required_inputs,
                dtypes={name: spec.dtype for name, spec in self._inputs_struct.items()})
        return super().call(inputs, training=training, mask=mask)

    # ----- datasets ----------------------------------------------------------------
    def convert_inputs(self, inputs):
        """Graph-side conversion of a batch of dataset inputs to model inputs.

        Keeps only the model's inputs (data sets may carry more, e.g. avdigits' audio
        for an image-only model) and vectorizes raw strings of text inputs.
        """
        names = self.input_names
        if not isinstance(inputs, dict):
            return inputs
        kept = {k: v for k, v in inputs.items() if k in names}
        for name, vectorizer in self.text_vectorizers.items():
            if name in kept and kept[name].dtype == tf.string:
                kept[name] = tf.cast(vectorizer(kept[name]), tf.int32)
        return kept

    def convert_labels(self, labels):
        """Graph-side conversion of a batch of dataset labels (identity by default)."""
        return labels

    def prepare_dataset(self, dataset, training=False):
        """Maps `convert_inputs` / `convert_labels` over a batched `tf.data.Dataset`.

        training: the dataset feeds `fit` (tasks that draw per-step choices, such as one
        caption per image, draw them then; validation and evaluation draw nothing).
        """
        del training  # the same conversion either way here

        def convert(*element):
            if len(element) == 1:
                return self.convert_inputs(element[0])
            return (self.convert_inputs(element[0]), self.convert_labels(element[1]),
                    *element[2:])

        return dataset.map(convert, num_parallel_calls=tf.data.AUTOTUNE)

    def predict_dataset(self, dataset):
        """Runs a batched `(inputs, labels, ...)` dataset; returns (outputs, labels) numpy.

        Labels are returned as the dataset holds them (before `convert_labels`).
        """
        outputs, labels = [], []
        for element in dataset:
            inputs = element[0] if isinstance(element, tuple) else element
            outputs.append(tf.nest.map_structure(np.asarray, self.infer_converted(inputs)))
            if isinstance(element, tuple) and len(element) > 1:
                labels.append(np.asarray(element[1]))
        if not outputs:
            raise ValueError("The dataset is empty: nothing to evaluate.")
        stacked = tf.nest.map_structure(lambda *parts: np.concatenate(parts), *outputs)
        return stacked, (np.concatenate(labels) if labels else None)

    # Hooks used by `mmzoo.training` (see Classifier for an implementation).
    @classmethod
    def dataset_overrides(cls, info, element_spec, config):
        """Constructor overrides that fit the model to a data set (classes, inputs...)."""
        return {}

    def dataset_options(self):
        """`mmzoo.datasets.load` options that match this model's inputs."""
        return {}

    def adapt_to_dataset(self, dataset):
        """Builds vocabularies from a batched training dataset (no-op by default)."""

    def evaluate_dataset(self, dataset):
        """A dict of metrics on a batched dataset."""
        raise NotImplementedError(type(self).__name__)

    def feature_split(self):
        """`(extractor, head)` to train with cached features of frozen encoders (see
        `mmzoo.tasks.feature_cache`), or `(None, reason)` when this model cannot."""
        return None, f"{type(self).__name__} does not cache features"

    def cache_inputs(self, dataset):
        """A batched dataset -> batched `(extractor inputs, *carried)`: what the feature
        cache runs the extractor on once, and what it keeps beside the features (here the
        labels). Tasks whose training draws choices per epoch carry what those choices
        are drawn from (e.g. all captions of an image) and draw in `head_dataset`."""
        return self.prepare_dataset(dataset)

    def head_dataset(self, cached, training=False):
        """Batched cached `(features, *carried)` -> what the head trainer fits on; mapped
        anew every epoch (identity here: the cached labels are the targets)."""
        del training
        return cached

    def fit(self, x=None, y=None, *args, validation_data=None, cache_features="auto",
            feature_cache_dir=None, **kwargs):
        """`keras.Model.fit`; batched datasets may hold raw strings and extra keys.

        cache_features: with every encoder frozen (`mmzoo.freeze_backbones`) and a
            `tf.data.Dataset`, "auto" (default) computes the encoders' outputs once and
            trains the rest on them (`mmzoo.tasks.feature_cache`: same result, the
            head's speed); False never does; True raises when it cannot.
        feature_cache_dir: keep those features there for later runs (the caller makes
            it unique to the data and the frozen encoders).
        """
        if cache_features and isinstance(x, tf.data.Dataset) and y is None and not args:
            extractor, reason = self.feature_split()
            if extractor is not None:
                return fit_with_cached_features(self, x, validation_data,
                                                split=(extractor, reason),
                                                cache_dir=feature_cache_dir, **kwargs)
            if cache_features is True:
                raise ValueError(f"cache_features=True, but {reason}.")
        if isinstance(x, tf.data.Dataset):
            x = self.prepare_dataset(x, training=True)
            kwargs.setdefault("shuffle", False)  # a dataset shuffles itself
        if isinstance(validation_data, tf.data.Dataset):
            validation_data = self.prepare_dataset(validation_data)
        return super().fit(x, y, *args, validation_data=validation_data, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        if isinstance(x, tf.data.Dataset):
            x = self.prepare_dataset(x)
        return super().evaluate(x, y, *args, **kwargs)

    def infer_converted(self, inputs):
        """`infer` of a batch of dataset inputs (`convert_inputs` first); tensors."""
        converted = self.convert_inputs(inputs)
        if not isinstance(converted, dict):
            converted = self.standardize_inputs(converted)
        return run_compiled(self, converted)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """`keras.Model.predict`; batched datasets may hold raw strings and extra keys.

        Arrays of at most `batch_size` (32) examples, without `steps`, `callbacks` or
        an explicit `verbose=1|2`, go through the compiled `predict_step` of
        `mmzoo.tasks.compiled` (milliseconds, no progress bar) instead of Keras' loop,
        whose set-up costs ~135 ms per call.
        """
        if isinstance(x, tf.data.Dataset):
            x = self.prepare_dataset(x)
        elif isinstance(x, (dict, np.ndarray, tf.Tensor)):
            given = self.standardize_inputs(x)
            examples = max(int(np.shape(v)[0]) for v in given.values() if v is not None)
            if (steps is None and not callbacks and verbose in ("auto", 0)
                    and examples <= (batch_size or 32)):
                return tf.nest.map_structure(np.asarray,
                                             run_compiled(self, given, "predict"))
            x = {k: v for k, v in given.items() if v is not None}
        return super().predict(x, batch_size=batch_size, verbose=verbose, steps=steps,
                               callbacks=callbacks)
