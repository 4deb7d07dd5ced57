"""Writes the bundled demo samples: one AV-digits test pair per digit.

    python tools/make_samples.py --data-dir ../shared/data

Each digit's first test-split example of `avdigits` (seed 0) becomes
`mmzoo/samples/avdigits/digit_<d>.png` (the 28x28 MNIST image) and `digit_<d>.wav`
(the FSDD recording, 8 kHz 16-bit, trailing padding removed).
"""

import argparse
import pathlib

import numpy as np
import tensorflow as tf

import mmzoo.datasets as mds

OUT = pathlib.Path(__file__).resolve().parents[1] / "mmzoo" / "samples" / "avdigits"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", default="../shared/data")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    found = {}
    for inputs, label in mds.load("avdigits", "test", data_dir=args.data_dir):
        digit = int(label)
        if digit in found:
            continue
        found[digit] = True
        image = tf.cast(tf.round(inputs["image"][..., :1]), tf.uint8)
        (OUT / f"digit_{digit}.png").write_bytes(tf.io.encode_png(image).numpy())
        audio = inputs["audio"].numpy()
        last = np.flatnonzero(audio)[-1] + 1 if audio.any() else len(audio)
        wav = tf.audio.encode_wav(audio[:last, None], sample_rate=8000)
        (OUT / f"digit_{digit}.wav").write_bytes(wav.numpy())
        if len(found) == 10:
            break
    print(f"wrote {2 * len(found)} files to {OUT}")


if __name__ == "__main__":
    main()
