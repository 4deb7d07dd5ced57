"""Writes the bundled samples in mmzoo/samples/ (sources and licences: its README.md).

    python tools/make_samples.py --avdigits ../shared/data      # digit_<d>.png / .wav
    python tools/make_samples.py --vqa                          # easy_vqa/blue_circle.png
    pip download --no-deps scikit-image==0.26.0 -d /tmp/skimage
    python tools/make_samples.py --photos /tmp/skimage/scikit_image-0.26.0-*.whl

- AV-digits: each digit's first test-split example of `avdigits` (seed 0): the 28x28
  MNIST image and the FSDD recording (8 kHz 16-bit, trailing padding removed).
- VQA: a blue circle on a pale background, drawn with NumPy in easy-VQA's style and
  palette (64x64), which the shipped easy-VQA weights answer correctly.
- Photographs: CC0 / public-domain photographs from scikit-image's wheel, longer side
  256 pixels (antialiased resize), JPEG quality 90.
"""

import argparse
import pathlib
import zipfile

import numpy as np

SAMPLES = pathlib.Path(__file__).resolve().parents[1] / "mmzoo" / "samples"
PHOTOS = {"astronaut": "astronaut.png", "chelsea": "chelsea.png", "coffee": "coffee.png"}

# easy-VQA's colours (measured on its training images: the shapes are flat colours).
EASY_VQA_COLOURS = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255),
                    "black": (0, 0, 0), "gray": (128, 128, 128), "teal": (0, 128, 128),
                    "brown": (165, 42, 42), "yellow": (255, 255, 0)}


def easy_vqa_picture(shape, colour, size=64, centre=(30, 34), radius=13,
                     background=(245, 240, 235)):
    """uint8 `[size, size, 3]`: one flat `colour` circle, rectangle or triangle on a
    pale background, as in easy-VQA."""
    rows, cols = np.mgrid[:size, :size] + 0.5
    cy, cx = centre
    if shape == "circle":
        mask = (rows - cy) ** 2 + (cols - cx) ** 2 <= radius ** 2
    elif shape == "rectangle":
        mask = (abs(rows - cy) <= radius * 0.7) & (abs(cols - cx) <= radius)
    elif shape == "triangle":
        top, bottom = cy - radius, cy + radius * 0.8
        mask = (rows >= top) & (rows <= bottom) & (
            abs(cols - cx) <= (rows - top) * radius / (bottom - top))
    else:
        raise ValueError(f"shape must be circle, rectangle or triangle, received {shape!r}.")
    image = np.empty((size, size, 3), np.uint8)
    image[:] = background
    image[mask] = EASY_VQA_COLOURS[colour]
    return image


def write_avdigits(data_dir):
    import tensorflow as tf

    import mmzoo.datasets as mds

    out = SAMPLES / "avdigits"
    out.mkdir(parents=True, exist_ok=True)
    found = set()
    for inputs, label in mds.load("avdigits", "test", data_dir=data_dir):
        digit = int(label)
        if digit in found:
            continue
        found.add(digit)
        image = tf.cast(tf.round(inputs["image"][..., :1]), tf.uint8)
        (out / f"digit_{digit}.png").write_bytes(tf.io.encode_png(image).numpy())
        audio = inputs["audio"].numpy()
        last = np.flatnonzero(audio)[-1] + 1 if audio.any() else len(audio)
        wav = tf.audio.encode_wav(audio[:last, None], sample_rate=8000)
        (out / f"digit_{digit}.wav").write_bytes(wav.numpy())
        if len(found) == 10:
            break
    print(f"wrote {2 * len(found)} files to {out}")


def write_vqa():
    import tensorflow as tf

    out = SAMPLES / "easy_vqa" / "blue_circle.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(tf.io.encode_png(easy_vqa_picture("circle", "blue"),
                                     compression=9).numpy())
    print(f"wrote {out}")


def write_photos(wheel, longer_side=256):
    import tensorflow as tf

    out = SAMPLES / "photos"
    out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as archive:
        for name, source in PHOTOS.items():
            data = archive.read(f"skimage/data/{source}")
            image = tf.io.decode_image(data, channels=3, expand_animations=False)
            height, width = image.shape[:2]
            scale = longer_side / max(height, width)
            resized = tf.image.resize(tf.cast(image, tf.float32),
                                      (round(height * scale), round(width * scale)),
                                      antialias=True)
            pixels = tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)
            jpeg = tf.io.encode_jpeg(pixels, quality=90, optimize_size=True).numpy()
            (out / f"{name}.jpg").write_bytes(jpeg)
            print(f"wrote {out / name}.jpg ({len(jpeg)} bytes)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--avdigits", metavar="DATA_DIR",
                        help="folder holding mnist/ and fsdd/ (e.g. ../shared/data)")
    parser.add_argument("--vqa", action="store_true", help="draw the easy-VQA sample")
    parser.add_argument("--photos", metavar="WHEEL", help="a scikit-image 0.26.0 wheel")
    args = parser.parse_args()
    if not (args.avdigits or args.vqa or args.photos):
        parser.error("nothing to write: pass --avdigits, --vqa and/or --photos")
    if args.avdigits:
        write_avdigits(args.avdigits)
    if args.vqa:
        write_vqa()
    if args.photos:
        write_photos(args.photos)


if __name__ == "__main__":
    main()
