"""Image captioning: `Captioner`, its decoders, loss, in-graph decoding (greedy, beam
search, sampling), caption metrics (BLEU, CIDEr-D) and pipeline."""

from mmzoo.tasks.captioning.model import Captioner
from mmzoo.tasks.captioning.pipeline import CaptioningPipeline

__all__ = ["Captioner", "CaptioningPipeline"]
