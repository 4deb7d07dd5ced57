"""Captioning entry points that decode: `generate`, in-graph search, detokenizing and
the SavedModel endpoints (beam search inside the graph). `Captioner` mixes this in.

>>> model.generate(pixels, num_beams=3)["captions"]
['a dog runs through the grass', ...]
"""

import weakref

import numpy as np
import tensorflow as tf

from mmzoo.layers.inference import folded_call
from mmzoo.preprocessing import check_vocabulary, decode_images, load_images
from mmzoo.tasks.captioning import decoding
from mmzoo.tasks.captioning.tokens import END_ID, NEG_INF, START_ID
from mmzoo.tasks.feature_cache import frozen_tower_cut
from mmzoo.tasks.inputs import graph_checks

# Python-side caches of traced decoding functions, outside Keras' attribute tracking.
_DECODERS = weakref.WeakKeyDictionary()
_ENCODERS = weakref.WeakKeyDictionary()


def forget_decoders(model):
    """Drops `model`'s traced decoding functions (after its vocabulary changes)."""
    _DECODERS.pop(model, None)
    _ENCODERS.pop(model, None)


class CaptionGeneration:
    """Decoding and serving methods of `Captioner` (see its docstring)."""

    # ----- decoding ----------------------------------------------------------------
    def search(self, images, max_length, num_beams=1, length_penalty=1.0,
               early_stopping=True, temperature=None, top_k=None, seed=0, use_cache=True,
               min_length=0, vocabulary_size=None):
        """Graph-side decoding of float32 pixels: `{"tokens": int32 [B, max_length],
        "scores": float32 [B]}`. Arguments as in `generate`; padding, [UNK], <start>
        and ids at or past `vocabulary_size` (default `len(self.vocabulary)`, read
        eagerly) are never generated."""
        return self.search_memory(
            self.image_encoder(images, training=False), max_length, num_beams,
            length_penalty, early_stopping, temperature, top_k, seed, use_cache,
            min_length, vocabulary_size)

    def search_memory(self, memory, max_length, num_beams=1, length_penalty=1.0,
                      early_stopping=True, temperature=None, top_k=None, seed=0,
                      use_cache=True, min_length=0, vocabulary_size=None):
        """`search` from the image encoder's output `memory` `[B, regions, dim]`."""
        step, state, context = self.decoding_step(memory, max_length, use_cache,
                                                  min_length, vocabulary_size)
        return decoding.decode(step, state, context, tf.shape(memory)[0], START_ID, END_ID,
                               max_length, num_beams, length_penalty, early_stopping,
                               temperature, top_k, seed)

    def decoding_step(self, memory, max_length, use_cache=True, min_length=0,
                      vocabulary_size=None):
        """`(step_fn, state, context)` for the functions of `mmzoo.tasks.captioning.decoding`, one row
        per image of `memory`. The step never picks padding, [UNK], <start>, ids at or
        past `vocabulary_size` (default `len(self.vocabulary)`, read eagerly), nor the
        end token before `min_length` tokens."""
        size = len(self.vocabulary) if vocabulary_size is None else int(vocabulary_size)
        ids = tf.range(self.vocab_size)
        allowed = tf.logical_and(ids >= END_ID, ids < size)[None]
        not_end = tf.not_equal(ids, END_ID)[None]

        def mask(logits, index):
            ok = allowed
            if min_length:
                ok = tf.logical_and(ok, tf.logical_or(not_end, index + 1 >= min_length))
            return tf.where(ok, logits, NEG_INF)

        decoder = self.caption_decoder
        if use_cache:
            context = decoder.prepare_context(memory)
            state = decoder.initial_state(context, max_length)

            def step(sequences, index, state, context):
                logits, state = decoder.step(sequences[:, index], index, state, context)
                return mask(logits, index), state
        else:
            # What the keras.io example does: re-run the decoder over the whole padded
            # prefix at every step (image keys/values, LSTM states and all).
            context, state = {"memory": memory}, {}

            def step(sequences, index, state, context):
                logits = decoder(sequences[:, :max_length], context["memory"],
                                 training=False)
                return mask(tf.gather(logits, index, axis=1), index), state

        return step, state, context

    def detokenize(self, tokens, vocabulary=None):
        """Graph-side: token ids `[B, L]` -> caption strings `[B]` (special tokens
        dropped, words joined by spaces). `vocabulary`: `self.vocabulary`, read eagerly
        by default."""
        vocabulary = self.vocabulary if vocabulary is None else list(vocabulary)
        tokens = tf.minimum(tokens, len(vocabulary) - 1)
        vocabulary = tf.constant(vocabulary)
        words = tf.ragged.boolean_mask(tf.gather(vocabulary, tokens), tokens > END_ID)
        return tf.strings.reduce_join(words, axis=1, separator=" ")

    def _inference_encoder(self):
        """`image_encoder(x, training=False)` with its BatchNormalizations folded into
        the convolutions (`mmzoo.layers.inference`), built once per model."""
        encoders = _ENCODERS.setdefault(self, {})
        if "pixels" not in encoders:
            encoders["pixels"] = folded_call(self.image_encoder)
        return encoders["pixels"]

    def _backbone_cut(self):
        """`(backbone, tail)` of the image encoder, cut after its backbone: pixels ->
        grid `[B, regions, channels]`, and grid -> memory (built once per model)."""
        encoders = _ENCODERS.setdefault(self, {})
        if "cut" not in encoders:
            encoders["cut"] = frozen_tower_cut(self.image_encoder, "image_backbone")
        return encoders["cut"]

    def _grid_encoder(self):
        _, tail = self._backbone_cut()
        return lambda grid: tf.nest.flatten(tail([grid], training=False))[0]

    def int8_image_backbone(self, calibration_images, num_threads=None, verbose=False):
        """The image backbone (pixels -> grid) quantized to int8 for
        `generate(..., image_backbone=...)`: an `mmzoo.int8.Int8Model` run by LiteRT's
        XNNPACK int8 kernels (`pip install ai-edge-litert`). The rest of the image
        encoder and the decoder stay float32 in TensorFlow.

        calibration_images: a few hundred images like the ones to caption (what
            `generate` takes), for the activations' ranges; their size (the model's
            `image_size` for paths and bytes) is the size the int8 backbone takes.

        A snapshot of the current weights (quantize again after training); takes 10-30
        s for an EfficientNet; `save` it to skip that next time.

        >>> int8 = model.int8_image_backbone(["a.jpg", "b.jpg", ...])
        >>> model.generate(images, image_backbone=int8)["captions"]
        """
        from mmzoo.int8 import Int8Model

        extractor, _ = self._backbone_cut()
        return Int8Model.quantize(extractor, self._pixels(calibration_images),
                                  num_threads=num_threads, verbose=verbose)

    def _int8_grid(self, image_backbone, pixels):
        from mmzoo.int8 import Int8Model

        if not isinstance(image_backbone, Int8Model):
            raise TypeError(f"image_backbone must be an Int8Model (from "
                            f"int8_image_backbone or Int8Model.load); received "
                            f"{type(image_backbone).__name__}.")
        _, tail = self._backbone_cut()
        expected = tuple(tail.inputs[0].shape[1:])
        shape = image_backbone.output_shape
        if len(shape) != len(expected) or any(
                want is not None and want != got for want, got in zip(expected, shape)):
            raise ValueError(f"image_backbone returns grids of shape {shape}; this "
                             f"model's image encoder takes {expected}: quantize this "
                             "model's backbone (int8_image_backbone).")
        return image_backbone(np.asarray(pixels, "float32"))

    def _decoder_function(self, max_length, num_beams, length_penalty, early_stopping,
                          temperature, top_k, use_cache, jit_compile, min_length,
                          from_grid=False):
        key = (max_length, num_beams, length_penalty, early_stopping, temperature, top_k,
               use_cache, jit_compile, min_length, from_grid)
        functions = _DECODERS.setdefault(self, {})
        if key not in functions:
            vocabulary = self.vocabulary
            encode = self._grid_encoder() if from_grid else self._inference_encoder()
            # XLA compiles the search loop only: its CPU convolutions ran 6-11x slower
            # than oneDNN's on the image encoder, which stays in the same graph.
            searching = tf.function(
                lambda memory, seed: self.search_memory(
                    memory, max_length, num_beams, length_penalty, early_stopping,
                    temperature, top_k, seed, use_cache, min_length, len(vocabulary)),
                jit_compile=jit_compile, reduce_retracing=True, autograph=False)

            # XLA rewrites one-row matmuls as vector-matrix products, which its CPU
            # backend runs slower than two rows (a 20-token search: 35.6 vs 18.9 ms):
            # at batch 1, greedy search decodes a copy of the image alongside.
            pad_single = jit_compile and num_beams == 1 and temperature is None and \
                top_k is None

            def run(images, seed):
                memory = encode(images)
                rows = tf.shape(memory)[0]
                if pad_single:
                    memory = tf.concat([memory, memory[:tf.cast(rows == 1, tf.int32)]], 0)
                out = {key: value[:rows] for key, value in searching(memory, seed).items()}
                return {**out, "captions": self.detokenize(out["tokens"], vocabulary)}

            # One trace per option set, whatever the batch and image sizes.
            images = tf.TensorSpec((None, None, None) + (() if from_grid else (3,)),
                                   tf.float32)
            functions[key] = tf.function(run, autograph=False, input_signature=[
                images, tf.TensorSpec((), tf.int32)])
        return functions[key]

    def generate(self, images, max_length=None, num_beams=None, length_penalty=None,
                 early_stopping=True, temperature=None, top_k=None, seed=0,
                 use_cache=True, jit_compile=False, min_length=0, image_backbone=None):
        """Captions for `images`: `{"token_ids": int32 [B, max_length], "captions":
        [str], "scores": float32 [B]}`. One `tf.function` per option set (traced once
        for every batch and image size) runs the image encoder, with BatchNormalization
        folded into its convolutions (`mmzoo.layers.inference`), and the search.

        images: float32 pixels `[B, H, W, 3]` (0..255), or what `load_images` takes
            (paths, encoded bytes, arrays of any size).
        max_length: tokens to generate at most (end token included); default and limit
            `sequence_length`.
        num_beams: beam width (default: the config's `num_beams`, or 1 when sampling
            options are given); 1 = greedy search.
        length_penalty, early_stopping: beam search (see `mmzoo.tasks.captioning.decoding.beam_search`).
        temperature, top_k: sample instead (with `num_beams=1`), seeded by `seed`.
        use_cache: cached keys/values (or LSTM states); False re-runs the decoder over
            the prefix at every step (same tokens, slower).
        jit_compile: compile the search loop with XLA (the image encoder runs in the
            same graph, without XLA). On a quiet 2-core CPU it took 5-28% less time
            than the graph at batch 1 and 32 (benchmarks/decoding.py), less so under
            load; it compiles again for every new batch size (about a second each),
            which the graph does not, hence off by default.
        min_length: the end token is not generated before this many tokens (the end
            token counts), e.g. `min_length=max_length` for fixed-length benchmarks.
        image_backbone: an int8 copy of the image backbone (`int8_image_backbone`) to
            run instead of the float32 one: 2-3x faster image encoding on CPUs with
            VNNI int8 instructions, captions that may differ slightly.

        token_ids hold the generated ids up to and including the end token, zeros after.
        scores are summed log-probabilities (greedy, sampling) or the length-normalised
        beam score.
        """
        max_length = self.sequence_length if max_length is None else max_length
        if num_beams is None:  # sampling options alone ask for sampling, not beams
            sampling = temperature is not None or top_k is not None
            num_beams = 1 if sampling else self.num_beams
        length_penalty = self.length_penalty if length_penalty is None else length_penalty
        decoding.check_decoding_arguments(max_length, num_beams, temperature, top_k,
                                          length_penalty, limit=self.sequence_length,
                                          min_length=min_length)
        check_vocabulary(self.text_vectorizer, type(self).__name__)
        max_length, num_beams = int(max_length), int(num_beams)
        top_k = None if top_k is None else int(top_k)
        pixels = self._pixels(images)
        if image_backbone is not None:
            pixels = self._int8_grid(image_backbone, pixels)
        function = self._decoder_function(
            max_length, num_beams, float(length_penalty), bool(early_stopping),
            None if temperature is None else float(temperature), top_k, bool(use_cache),
            bool(jit_compile), int(min_length), from_grid=image_backbone is not None)
        out = function(tf.convert_to_tensor(pixels, tf.float32),
                       tf.constant(int(seed), tf.int32))
        return {"token_ids": out["tokens"].numpy(),
                "captions": [c.decode("utf-8") for c in out["captions"].numpy()],
                "scores": out["scores"].numpy()}

    def _pixels(self, images):
        if isinstance(images, (tf.Tensor, np.ndarray)) and len(images.shape) == 4 and \
                np.dtype(images.dtype.name if isinstance(images, tf.Tensor)
                         else images.dtype).kind in "fiu":
            self.check_inputs({"image": images})
            return images
        return load_images(images, self.image_size)

    # ----- raw inputs and export ---------------------------------------------------
    def preprocess(self, image=None, caption=None):
        """Raw inputs -> model inputs (numpy): images (paths, bytes, arrays) and caption
        strings (-> decoder input ids)."""
        inputs = {}
        if image is not None:
            inputs["image"] = load_images(image, self.image_size)
        if caption is not None:
            check_vocabulary(self.text_vectorizer, type(self).__name__)
            strings = tf.constant([caption] if isinstance(caption, str) else list(caption))
            inputs["caption"] = self.caption_ids(strings)[0].numpy()
        if not inputs:
            raise ValueError("No input given; pass image= and/or caption=.")
        return inputs

    def raw_signature(self):
        return {"image": tf.TensorSpec((None,), tf.string, name="image")}

    def preprocess_raw(self, raw):
        return {"image": decode_images(raw["image"], self.image_size)}

    def serving_endpoints(self):
        """`serve` (default): encoded image bytes [B] -> captions by beam search
        (`num_beams`, `length_penalty` of the config, `max_length = sequence_length`);
        `serve_images`: float32 pixels [B, H, W, 3] -> the same; `serve_tensors`: the
        model's own inputs -> teacher-forced logits."""
        vocabulary = self.vocabulary

        def captions_of(images):
            # The checks model(x) runs (a non-empty batch, finite pixels): the search
            # calls the image encoder directly.
            images = graph_checks({"image": images})["image"]
            out = self.search(images, self.sequence_length, self.num_beams,
                              self.length_penalty, vocabulary_size=len(vocabulary))
            return {"captions": self.detokenize(out["tokens"], vocabulary),
                    "token_ids": out["tokens"], "scores": out["scores"]}

        def serve(raw):
            return captions_of(self.preprocess_raw(raw)["image"])

        def serve_images(inputs):
            return captions_of(inputs["image"])

        def serve_tensors(inputs):
            return {"logits": self(inputs, training=False)}

        return {
            "serve": (serve, [self.raw_signature()]),
            "serve_images": (serve_images, [{"image": tf.TensorSpec(
                (None, None, None, 3), tf.float32, name="image")}]),
            "serve_tensors": (serve_tensors, [self.tensor_signature()]),
        }
