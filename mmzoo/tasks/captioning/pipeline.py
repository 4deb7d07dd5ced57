"""Raw images in, generated captions out, for captioners (as Hugging Face's image-to-text
pipeline)."""

from mmzoo import checks
from mmzoo.preprocessing import is_batch
from mmzoo.reprs import pipeline_repr


class CaptioningPipeline:
    """Wraps a `Captioner`: images as paths, encoded bytes or arrays (any size; grayscale
    and RGBA converted) -> generated captions, as Hugging Face's image-to-text pipeline.

    >>> caption = mmzoo.pipeline("caption_sat", weights="flickr8k")
    >>> caption(image="dog.jpg", num_beams=3)
    [{'generated_text': 'a dog runs through the grass'}]
    >>> caption(image=["dog.jpg", "beach.jpg"], temperature=0.8, top_k=20, seed=1)
    [[{'generated_text': ...}], [{'generated_text': ...}]]

    Keyword arguments go to `Captioner.generate` (max_length, num_beams,
    length_penalty, early_stopping, temperature, top_k, seed, use_cache, jit_compile,
    image_backbone: an int8 backbone from `model.int8_image_backbone`); images are
    captioned `batch_size` at a time.
    """

    def __init__(self, model):
        self.model = model

    def __repr__(self):
        return pipeline_repr(self, vocabulary=len(self.model.vocabulary))

    def __call__(self, image=None, batch_size=32, **generate_options):
        if image is None:
            raise ValueError("No input given; pass image= (a path, bytes or an array, "
                             "or a list of them).")
        batch_size = checks.integer(batch_size, "batch_size", minimum=1)
        batched = is_batch(image, 4)
        pixels = self.model.preprocess(image=image)["image"]
        captions = []
        for start in range(0, len(pixels), batch_size):
            captions += self.model.generate(pixels[start:start + batch_size],
                                            **generate_options)["captions"]
        results = [[{"generated_text": caption}] for caption in captions]
        return results if batched else results[0]
