"""AV-digits: each MNIST image paired with an FSDD recording of the same digit.

`data_dir` is the PARENT folder holding `mnist/` (the MNIST layout) and `fsdd/` (the FSDD
layout), by default `../shared/data`.

Split rule: an example's split is its MNIST image's split, md5(str(i)) -> int(first 8
hex digits) % 100 of the image index i: 0-79 train, 80-89 validation, 90-99 test (as in
`mnist`). Each recording gets a split the same way from its FILE NAME (md5 of e.g.
"3_theo_17.wav"), so no recording is shared between splits (this is not FSDD's own
take-based split, which leaves the shared copy without test recordings).

Pairing: image i (digit d, split s) gets the recording
`candidates[numpy.random.default_rng([seed, i]).integers(len(candidates))]`, where
`candidates` is the sorted list of file names of the recordings of digit d in split s.
The pairing is deterministic given `seed` (a prep-time option, default 0) and the folder.
An image whose digit has no recording in its split is dropped and counted
(`info()["unpaired"]`, with a warning); real-size folders have none.

Config `noisy` (`load("avdigits/noisy")`) degrades both modalities at preparation time,
seeded by the same per-image generator (after the pairing draw), so neither modality
alone is enough:

- image: a random `NOISY_OCCLUSION_SIZE` x `NOISY_OCCLUSION_SIZE` square (16 x 16, fully
  inside the image, uniform position) is set to 0, then Gaussian noise of standard
  deviation `NOISY_PIXEL_SIGMA` (80 on the 0..255 scale) is added to every pixel and the
  result is rounded and clipped to 0..255;
- audio: white Gaussian noise at `NOISY_AUDIO_SNR_DB` (+5 dB) SNR relative to the
  recording's RMS (noise RMS = RMS * 10 ** (-SNR / 20)) is added over the recording's
  samples, then rounded and clipped to int16.

The constants below are the only place these numbers live; they are part of the cache
key, so changing them re-prepares the data.

Elements: `({"image": float32 [28, 28, 3] 0..255, "audio": float32 [clip_seconds *
sample_rate]}, label int64)`. Options: `seed` (prep time), `image_size` (default None),
`sample_rate` (default 8000), `clip_seconds` (default 1.0), `cache` (default True).

>>> import mmzoo.datasets as mds
>>> train = mds.load("avdigits/noisy", split="train", data_dir="../shared/data", seed=0)
>>> model.fit(train.shuffle(2048).batch(32), epochs=3)
"""

import numpy as np
import tensorflow_datasets as tfds

from mmzoo.datasets import _common as common
from mmzoo.datasets import fsdd, mnist
from mmzoo.registry import DATASETS

# ----- the `noisy` degradation (tune here; part of the cache key) ----------------------
NOISY_OCCLUSION_SIZE = 16      # side in pixels of the random square set to 0
NOISY_PIXEL_SIGMA = 80.0       # std of additive Gaussian pixel noise, 0..255 scale
NOISY_AUDIO_SNR_DB = 5.0       # SNR of additive white noise vs. the recording's RMS

SOURCE_RATE = fsdd.SOURCE_RATE
SPLIT_RULE = ("image split by MNIST index i: "
              + common.SPLIT_RULE_80_10_10.replace("key", "str(i)")
              + "; recording split by the same rule on its file name; a recording is drawn "
                "with numpy.random.default_rng([seed, i]) from the sorted recordings of the "
                "same digit and split")


def noisy_parameters():
    return {"occlusion_size": NOISY_OCCLUSION_SIZE, "pixel_sigma": NOISY_PIXEL_SIGMA,
            "audio_snr_db": NOISY_AUDIO_SNR_DB}


def degrade_image(image, rng):
    """uint8 `[H, W]` -> occluded, noisy uint8 `[H, W]` (see the module docstring)."""
    out = image.astype(np.float64)
    height, width = out.shape[:2]
    side = min(NOISY_OCCLUSION_SIZE, height, width)
    top = rng.integers(0, height - side + 1)
    left = rng.integers(0, width - side + 1)
    out[top:top + side, left:left + side] = 0.0
    out += rng.normal(0.0, NOISY_PIXEL_SIGMA, out.shape)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def degrade_audio(samples, rng):
    """int16 samples -> with white noise at NOISY_AUDIO_SNR_DB vs. their RMS, int16."""
    signal = samples.astype(np.float64)
    rms = np.sqrt(np.mean(signal ** 2)) if signal.size else 0.0
    noise_rms = rms * 10.0 ** (-NOISY_AUDIO_SNR_DB / 20.0)
    signal += rng.normal(0.0, noise_rms, signal.shape)
    return np.clip(np.round(signal), -32768, 32767).astype(np.int16)


class AvdigitsBuilder(common.Builder, skip_registration=True):
    """TFDS builder pairing a local MNIST folder with a local FSDD folder."""

    name = "mmzoo_avdigits"
    BUILDER_CONFIGS = [
        tfds.core.BuilderConfig(name="clean", description="MNIST image + FSDD recording."),
        tfds.core.BuilderConfig(
            name="noisy",
            description=(f"Occluded ({NOISY_OCCLUSION_SIZE}x{NOISY_OCCLUSION_SIZE} square) "
                         f"and noisy (sigma {NOISY_PIXEL_SIGMA}) image, audio with white "
                         f"noise at {NOISY_AUDIO_SNR_DB} dB SNR.")),
    ]

    def _info(self):
        return self.make_info(
            {
                "image": tfds.features.Image(shape=(None, None, 1)),
                "audio": fsdd.audio_feature(),
                "label": tfds.features.ClassLabel(names=[str(d) for d in range(10)]),
                "mnist_index": tfds.features.Scalar(dtype=np.int64),
                "recording": tfds.features.Text(),
            },
            description=f"Audio-visual digits. Split: {SPLIT_RULE}.",
        )

    def _split_generators(self, dl_manager):
        del dl_manager
        seed = int(self.options.get("seed", 0))
        mnist_dir = self.source_dir / "mnist"
        images, labels = mnist.read_mnist(mnist_dir, self.problems)
        self.record("image_shape", [int(images.shape[1]), int(images.shape[2])])
        recordings = self._read_recordings()
        candidates = {}
        for name in sorted(recordings):
            digit = fsdd.parse_name(name)[0]
            candidates.setdefault((common.split_80_10_10(name), digit), []).append(name)
        self.record("recordings", {s: sum(len(v) for (split, _), v in candidates.items()
                                           if split == s) for s in common.SPLITS})
        self.record("unpaired", [])
        by_split = {split: [] for split in common.SPLITS}
        for index in mnist.valid_labels(images, labels, mnist_dir, self.problems):
            by_split[common.split_80_10_10(index)].append(index)
        noisy = self.builder_config.name == "noisy"
        return {split: self._generate_examples(split, indices, images, labels, recordings,
                                               candidates, seed, noisy)
                for split, indices in by_split.items() if indices}

    def _read_recordings(self):
        folder = self.source_dir / "fsdd" / "recordings"
        recordings = {}
        for name in fsdd.recording_names(self.source_dir / "fsdd"):
            if fsdd.parse_name(name) is None:
                self.problems.bad(folder / name, "the file name is not "
                                                 "<digit>_<speaker>_<take>.wav")
                continue
            samples = fsdd.read_recording(folder / name, self.problems)
            if samples is not None:
                recordings[name] = samples
        return recordings

    def _generate_examples(self, split, indices, images, labels, recordings, candidates,
                           seed, noisy):
        unpaired = self.info.metadata["unpaired"]
        for index in indices:
            digit = int(labels[index])
            names = candidates.get((split, digit))
            if not names:
                unpaired.append(int(index))
                common.LOG.warning("avdigits: no %s recording of digit %d; MNIST image %d "
                                   "is dropped", split, digit, index)
                continue
            rng = np.random.default_rng([seed, int(index)])
            name = names[int(rng.integers(len(names)))]
            image, audio = images[index], recordings[name]
            if noisy:
                image, audio = degrade_image(image, rng), degrade_audio(audio, rng)
            yield int(index), {"image": image[..., None], "audio": audio, "label": digit,
                               "mnist_index": int(index), "recording": name}


class AvdigitsSpec(common.Spec):
    name = "avdigits"
    builder = AvdigitsBuilder
    folder = ""
    prep_options = {"seed": 0}
    load_options = {"image_size": None, "sample_rate": SOURCE_RATE, "clip_seconds": 1.0}
    split_rule = SPLIT_RULE
    layout = (f"mnist/{{{mnist.IMAGES_FILE}, {mnist.LABELS_FILE}}} and "
              "fsdd/recordings/<digit>_<speaker>_<take>.wav with recordings of the images' "
              "digits")
    modalities = ("image", "audio")

    def options(self, given):
        options = super().options(given)
        seed = options["seed"]
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"avdigits: seed must be a non-negative int, received {seed!r}.")
        options["seed"] = int(seed)
        return options

    def constants(self, config):
        return noisy_parameters() if config == "noisy" else {}

    def check_source(self, source):
        mnist.check_mnist_folder(source / "mnist", dataset="avdigits")
        if not (source / "fsdd" / "recordings").is_dir():
            raise FileNotFoundError(
                f"avdigits: {source} lacks fsdd/recordings/ (data_dir for avdigits is the "
                "PARENT folder holding mnist/ and fsdd/).")

    def source_files(self, source):
        return ([f"mnist/{mnist.IMAGES_FILE}", f"mnist/{mnist.LABELS_FILE}"]
                + [f"fsdd/recordings/{n}" for n in fsdd.recording_names(source / "fsdd")])

    def empty_split_reason(self, builder, split):
        return "no MNIST image of the folder has a recording of its digit in that split"

    def read(self, builder, split, options):
        size = options["image_size"]
        shape = mnist.image_shape(builder, options)
        rate = int(options["sample_rate"])
        num_samples = common.num_samples_of(options)

        def decode(example):
            return (common.decoded_image(example["image"], size), example["audio"],
                    example["label"])

        def convert(image, samples, label):
            return ({"image": common.float_image(image, shape),
                     "audio": common.float_audio(samples, SOURCE_RATE, rate, num_samples)},
                    label)

        return common.finish(self.as_dataset(builder, split), decode, convert, options["cache"])

    def extra_info(self, builder, options):
        described = {
            "class_names": [str(d) for d in range(10)],
            "config": builder.builder_config.name,
            "seed": options["seed"],
            "image_shape": list(mnist.image_shape(builder, options) or []),
            "source_sample_rate": SOURCE_RATE,
            "sample_rate": int(options["sample_rate"]),
            "clip_seconds": float(options["clip_seconds"]),
            "num_samples": common.num_samples_of(options),
            "recordings": dict(builder.info.metadata.get("recordings") or {}),
            "unpaired": len(builder.info.metadata.get("unpaired") or []),
        }
        if builder.builder_config.name == "noisy":
            described["degradation"] = noisy_parameters()
        return described


DATASETS.register("avdigits", AvdigitsSpec(), kind="local", modalities=("image", "audio"),
                  task="classification", configs=("clean", "noisy"))
