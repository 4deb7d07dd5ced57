"""Raw inputs -> model tensors: text ids, RGB pixels, mono waveforms."""

from mmzoo.preprocessing.batch import as_items, is_batch
from mmzoo.preprocessing.audio import decode_wav, fit_length, load_audio, load_audios, resample
from mmzoo.preprocessing.image import (
    decode_image,
    decode_images,
    load_image,
    load_images,
    resize,
    to_rgb,
)
from mmzoo.preprocessing.text import (
    as_string_batch,
    check_vocabulary,
    text_vectorizer,
    vocabulary_of,
)
from mmzoo.preprocessing.wordpiece import WordPieceTokenizer

__all__ = [
    "as_items",
    "as_string_batch",
    "is_batch",
    "check_vocabulary",
    "decode_image",
    "decode_images",
    "decode_wav",
    "fit_length",
    "load_audio",
    "load_audios",
    "load_image",
    "load_images",
    "resample",
    "resize",
    "text_vectorizer",
    "to_rgb",
    "vocabulary_of",
    "WordPieceTokenizer",
]
