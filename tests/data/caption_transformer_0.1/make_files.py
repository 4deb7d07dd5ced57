"""Saves a small caption_transformer .keras file with mmzoo as of commit d09c799, before
the TransformerBlock fix: then every block, self-attention ones too, built a
`context_norm` (unused, so training warned "Gradients do not exist"). Also saves its
inputs and outputs; tests/test_transformer_block.py loads it with the current code.

    git archive d09c799 | tar -x -C /tmp/old
    PYTHONPATH=/tmp/old python tests/data/caption_transformer_0.1/make_files.py tests/data/caption_transformer_0.1
"""
import os
import sys

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import keras  # noqa: E402
import numpy as np  # noqa: E402

import mmzoo  # noqa: E402

print(mmzoo.__file__)
keras.utils.set_random_seed(0)
out = sys.argv[1]
texts = ["a dog runs on the grass", "two children play in the snow"]
model = mmzoo.load("caption_transformer", image_options={"filters": [4, 8]}, image_size=16,
                   vocab_size=30, embed_dim=8, num_heads=2, ffn_dim=16, num_layers=1,
                   encoder_layers=1, sequence_length=6, min_word_count=1)
model.adapt_text(texts)
# Non-default LayerNorm parameters, so that a load that skipped them would show.
for variable in model.weights:
    if "norm" in variable.path:
        variable.assign(np.random.default_rng(len(variable.path)).uniform(
            0.5, 1.5, variable.shape).astype("float32"))
images = np.random.default_rng(0).uniform(0, 255, (2, 16, 16, 3)).astype("float32")
caption = model.preprocess(caption=texts)["caption"]
output = np.asarray(model({"image": images, "caption": caption}, training=False))
model.save(f"{out}/captioner.keras")
np.savez(f"{out}/expected.npz", images=images, caption=caption, output=output)
print(sorted(v.path for v in model.weights if "context_norm" in v.path))
