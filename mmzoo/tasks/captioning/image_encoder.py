"""The captioner's image side: pixels -> the memory the decoder attends to, and the width
of the decoder's token table.

>>> encoder = image_encoder(backbone, dim=256, positions=True, encoder_layers=1,
...                         num_heads=4, ffn_dim=512, dropout=0.1, augment=False)
>>> encoder(pixels).shape        # (B, regions, 256)
>>> embedding_width("glove.6B.50d", None)   # 50
"""

import keras

from mmzoo.layers import PositionEmbedding, TrainingOnly, TransformerBlock


def image_encoder(backbone, dim, positions, encoder_layers, num_heads, ffn_dim, dropout,
                  augment):
    """Pixels -> the memory the decoder attends to: `[B, regions, dim]`."""
    images = keras.Input((None, None, 3), dtype="float32", name="images")
    x = images
    if augment:
        x = TrainingOnly(keras.layers.RandomFlip("horizontal"), name="augment_flip")(x)
    grid = backbone(x)["sequence"]
    memory = keras.layers.Dense(dim, name="feature_projection")(grid)
    if positions:
        memory = PositionEmbedding(grid.shape[1], name="grid_positions")(memory)
    for index in range(encoder_layers):
        memory = TransformerBlock(num_heads, dim // num_heads, ffn_dim, dropout,
                                  name=f"encoder_block_{index}")(memory)
    memory = keras.layers.LayerNormalization(epsilon=1e-6, name="memory_norm")(memory)
    return keras.Model(images, memory, name="image_encoder")


def embedding_width(word_embeddings, embedding_dim):
    """The decoder's token-table width: `embedding_dim`, or that of the pretrained
    `word_embeddings` (which an explicit different width contradicts), or None."""
    if word_embeddings is None:
        return None if embedding_dim is None else int(embedding_dim)
    from mmzoo.pretrained.glove import dimension

    width = dimension(word_embeddings)
    if embedding_dim is not None and int(embedding_dim) != width:
        raise ValueError(f"embedding_dim={embedding_dim} contradicts word_embeddings="
                         f"{word_embeddings!r}, whose vectors are {width} wide.")
    return width
