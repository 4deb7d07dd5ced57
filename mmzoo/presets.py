"""The named models: plain data, registered in `mmzoo.registry.PRESETS`.

Each preset names its task (a key of `mmzoo.registry.TASKS`), a one-line description
and the constructor arguments of that task. `mmzoo.load(name, **overrides)` merges
overrides into `config`.
"""

from mmzoo.registry import PRESETS

_SENTIMENT = "Text + image + audio classifier"

PRESET_SPECS = {
    "sentiment_early": {
        "task": "classifier",
        "description": f"{_SENTIMENT}, early fusion: concatenated features, linear head "
                       "(the classic TensorFlow multimodal sentiment model).",
        "config": {"fusion": "concat"},
    },
    "sentiment_late": {
        "task": "classifier",
        "description": f"{_SENTIMENT}, late fusion: per-modality heads, logits averaged "
                       "with learned weights.",
        "config": {"fusion": "late", "fusion_options": {"learn_weights": True}},
    },
    "sentiment_hybrid": {
        "task": "classifier",
        "description": f"{_SENTIMENT}, hybrid fusion: early and late decisions combined, "
                       "unimodal heads trained with an auxiliary loss.",
        "config": {"fusion": "hybrid", "aux_loss_weight": 0.5},
    },
    "sentiment_attention": {
        "task": "classifier",
        "description": f"{_SENTIMENT}, modality attention over projected features.",
        "config": {"fusion": "attention", "fusion_options": {"dim": 128},
                   "head_units": [128], "dropout": 0.2},
    },
    "sentiment_tfn": {
        "task": "classifier",
        "description": f"{_SENTIMENT}, Tensor Fusion Network (Zadeh et al. 2017).",
        "config": {"fusion": "tensor", "fusion_options": {"dim": 16},
                   "head_units": [64], "dropout": 0.2},
    },
    "sentiment_lmf": {
        "task": "classifier",
        "description": f"{_SENTIMENT}, Low-rank Multimodal Fusion (Liu et al. 2018).",
        "config": {"fusion": "low_rank", "fusion_options": {"units": 128, "rank": 4},
                   "head_units": [64], "dropout": 0.2},
    },
    "sentiment_gmu": {
        "task": "classifier",
        "description": f"{_SENTIMENT}, Gated Multimodal Units (Arevalo et al. 2017).",
        "config": {"fusion": "gated", "fusion_options": {"units": 128},
                   "head_units": [64], "dropout": 0.2},
    },
    "sentiment_mult": {
        "task": "classifier",
        "description": f"{_SENTIMENT}, MulT cross-modal transformer over sequences "
                       "(Tsai et al. 2019).",
        "config": {"fusion": "cross_transformer",
                   "fusion_options": {"dim": 64, "num_heads": 4, "num_layers": 1},
                   "head_units": [64], "dropout": 0.2},
    },
}

for _name, _spec in PRESET_SPECS.items():
    PRESETS.register(_name, _spec, task=_spec["task"])

# ----- visual question answering (task "vqa", mmzoo/tasks/vqa.py) -------------------------
# Image CNN + BiGRU question encoder + fusion + answer head. The answer vocabulary
# (`answers`) and the question vocabulary come from the data set at training time.

_VQA_QUESTION = {"embed_dim": 64, "units": 64}
_VQA_CNN = {"filters": [16, 32, 64]}

VQA_PRESET_SPECS = {
    "vqa_concat": {
        "task": "vqa",
        "description": "VQA baseline: CNN + BiGRU question encoder, element-wise product "
                       "fusion, MLP (the easy-VQA baseline design; the CNN+MLP of "
                       "Santoro et al. 2017).",
        # ReLU projections: with tanh (the easy-VQA baseline's) the flattened grid's
        # branch never learned on easy-VQA (validation 66.7% after 8 epochs: the
        # question-only level). On 8,000 training questions, 4 epochs: tanh 67.0%,
        # ReLU 78.6%.
        "config": {"fusion": "hadamard",
                   "fusion_options": {"units": 256, "activation": "relu"},
                   "image_pooling": "flatten", "image_options": _VQA_CNN,
                   "text_options": _VQA_QUESTION, "head_units": [256], "dropout": 0.2},
    },
    "vqa_san": {
        "task": "vqa",
        "description": "VQA, Stacked Attention Networks (Yang et al. 2016): 2 question-"
                       "guided attention hops over the CNN feature grid, MLP head.",
        # A hidden layer on u = v~ + u: a linear head on a sum cannot tell whether the
        # image matches the question (easy-VQA's yes/no questions).
        "config": {"fusion": "stacked_attention",
                   "fusion_options": {"dim": 128, "attention_units": 128, "hops": 2},
                   "image_options": _VQA_CNN, "text_options": _VQA_QUESTION,
                   "head_units": [256], "dropout": 0.2},
    },
    "vqa_mfb": {
        "task": "vqa",
        "description": "VQA, MFB with co-attention (Yu et al. 2017): question self-"
                       "attention, MFB-guided image attention, MFB fusion.",
        "config": {"fusion": "mfb_coattention",
                   "fusion_options": {"units": 128, "factors": 5, "attention_units": 128,
                                      "question_glimpses": 2, "image_glimpses": 2,
                                      "dropout": 0.1},
                   "image_options": _VQA_CNN, "text_options": _VQA_QUESTION,
                   "dropout": 0.2},
    },
    "vqa_rn": {
        "task": "vqa",
        "description": "VQA, Relation Network (Santoro et al. 2017): g over all pairs of "
                       "CNN grid cells (with coordinates) and the question, pooled, then f.",
        # Mean rather than sum over the pairs: the same function class (f's first layer
        # absorbs the factor N^2) without huge logits at initialisation.
        "config": {"fusion": "relation",
                   "fusion_options": {"g_units": [128, 128, 128], "f_units": [128],
                                      "dropout": 0.5, "pooling": "mean"},
                   "image_size": 80, "image_options": {"filters": [24, 24, 24, 24]},
                   "text_options": _VQA_QUESTION},
    },
}

for _name, _spec in VQA_PRESET_SPECS.items():
    PRESETS.register(_name, _spec, task=_spec["task"])
PRESET_SPECS.update(VQA_PRESET_SPECS)

# ----- image-text retrieval ---------------------------------------------------------
# Both presets share the towers: EfficientNet-Lite0 (ImageNet) and MiniLM (sentence
# embeddings), both pretrained and meant to stay frozen (`mmzoo train --freeze-backbones`
# then trains the projections on features computed once), and an MLP projection of each
# into a shared 256-d space; only the objective differs. No augmentation or word
# dropout: both would change the inputs of the frozen encoders every epoch.
_RETRIEVAL_TOWERS = {"image_backbone": "efficientnet_lite0", "image_weights": "imagenet",
                     "image_size": 224, "text_backbone": "minilm",
                     "text_options": {"weights": "pretrained"}, "sequence_length": 32,
                     "embed_dim": 256, "projection_units": [512], "dropout": 0.1,
                     "augment": False, "word_dropout": 0.0}

RETRIEVAL_PRESET_SPECS = {
    "retrieval_dual_encoder": {
        "task": "retriever",
        "description": "Image-text dual encoder (CLIP-style): EfficientNet-Lite0 and MiniLM "
                       "towers with MLP projections, symmetric InfoNCE with a learned "
                       "temperature (1/0.07, clamped at 100).",
        "config": {**_RETRIEVAL_TOWERS, "loss": "infonce", "init_scale": 1 / 0.07,
                   "max_scale": 100.0, "init_bias": None},
    },
    "retrieval_siglip": {
        "task": "retriever",
        "description": "Image-text dual encoder with SigLIP's pairwise sigmoid loss "
                       "(Zhai et al. 2023) on the same towers: learned temperature 10 "
                       "and bias -10 at init.",
        "config": {**_RETRIEVAL_TOWERS, "loss": "sigmoid", "init_scale": 10.0,
                   "max_scale": None, "init_bias": -10.0},
    },
}

for _name, _spec in RETRIEVAL_PRESET_SPECS.items():
    PRESETS.register(_name, _spec, task=_spec["task"])
PRESET_SPECS.update(RETRIEVAL_PRESET_SPECS)

# ----- image captioning -------------------------------------------------------------
# The decoders read EfficientNet-Lite0's 7x7x1280 ImageNet grid (frozen: trained with
# `--freeze-backbones`, the grids computed once) and start from GloVe word vectors
# (50-d, projected to the decoder's width). The vocabulary (words seen 5+ times in the
# training captions: about 2,660 on Flickr8k) comes from the training set. The trained
# parts stay under 1.6M parameters, so a weights folder stays under 6.5 MiB.
_CAPTION_COMMON = {"image_backbone": "efficientnet_lite0", "image_weights": "imagenet",
                   "image_size": 224, "word_embeddings": "glove.6B.50d",
                   "vocab_size": 2700, "min_word_count": 5, "sequence_length": 20,
                   "augment": False, "captions_per_image": 5, "label_smoothing": 0.1,
                   "num_beams": 3, "length_penalty": 1.0}

CAPTION_PRESET_SPECS = {
    "caption_sat": {
        "task": "captioner",
        "description": "Show, Attend and Tell (Xu et al. 2015): soft attention of an LSTM "
                       "over the EfficientNet-Lite0 grid, gating scalar beta, doubly "
                       "stochastic attention regulariser; GloVe word vectors.",
        "config": {**_CAPTION_COMMON, "decoder": "lstm_attention", "embed_dim": 128,
                   "feature_dim": 192, "lstm_units": 256, "attention_units": 128,
                   "dropout": 0.3, "attention_regularizer": 1.0},
    },
    "caption_transformer": {
        "task": "captioner",
        "description": "Transformer decoder (causal self-attention, cross-attention) over "
                       "the EfficientNet-Lite0 grid, cached decoding; GloVe word vectors.",
        "config": {**_CAPTION_COMMON, "decoder": "transformer", "embed_dim": 128,
                   "num_layers": 2, "num_heads": 4, "ffn_dim": 256, "encoder_layers": 1,
                   "dropout": 0.1},
    },
}

for _name, _spec in CAPTION_PRESET_SPECS.items():
    PRESETS.register(_name, _spec, task=_spec["task"])
PRESET_SPECS.update(CAPTION_PRESET_SPECS)
