"""Raw inputs -> model tensors: text ids, RGB pixels, mono waveforms."""

from mmzoo.preprocessing.batch import as_items, is_batch, read_file
from mmzoo.preprocessing.samples import sample_names, sample_path
from mmzoo.preprocessing.audio import (
    check_clip_length,
    decode_wav,
    fit_length,
    load_audio,
    load_audios,
    pcm_to_float,
    resample,
)
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
    "check_clip_length",
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
    "pcm_to_float",
    "read_file",
    "resample",
    "resize",
    "sample_names",
    "sample_path",
    "text_vectorizer",
    "to_rgb",
    "vocabulary_of",
    "WordPieceTokenizer",
]
