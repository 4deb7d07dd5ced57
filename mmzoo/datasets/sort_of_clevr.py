"""Sort-of-CLEVR: a synthetic relational VQA data set (Santoro et al. 2017).

Follows the widely used generator of kimhc6028/relational-networks
(`sort_of_clevr_generator.py`): 75 x 75 RGB images on a white background holding 6
objects, one per colour (red, green, blue, orange, gray, yellow), each a square
("rectangle") or a circle of half-size 5 at random positions; per image 10 non-relational
and 10 relational questions (in that order), each with a random colour and subtype.

Question encoding (11 bits): 6 colour one-hot, 2 question-type one-hot (non-relational,
relational), 3 subtype one-hot. Subtypes and templates:

- non-relational 0: "what is the shape of the red object?" -> rectangle / circle
- non-relational 1: "is the red object on the left?" (centre x < 75 / 2) -> yes / no
- non-relational 2: "is the red object on the top?" (centre y < 75 / 2) -> yes / no
- relational 0: "what is the shape of the object closest to the red object?"
- relational 1: "what is the shape of the object furthest from the red object?"
- relational 2: "how many objects have the same shape as the red object?" -> 1..6,
  counting the object itself (as the reference generator does).

Closest/furthest use squared Euclidean distances between centres and EXCLUDE the object
itself (ties go to the first object in colour order). Answer vocabulary, in order:
yes, no, rectangle, circle, 1, 2, 3, 4, 5, 6.

Differences from the reference code (bugs there): colours are drawn from all 6 (it draws
0..4, never asking about yellow), and objects never overlap or touch (it checks a
Euclidean centre distance of 10, which lets squares overlap diagonally): centres are at
least 2 * 5 + 2 pixels apart along x or y. Circles are the pixels within distance 5 of the
centre, squares the 11 x 11 pixels around it.

Determinism: image j of split s is drawn from `numpy.random.default_rng([seed, k, j])`
with k = 0, 1, 2 for train, validation, test, so changing `num_images` keeps the first
images. No source folder is read (`data_dir` is ignored); the options key the cache.

Elements: `({"image": float32 [75, 75, 3] 0..255, "question": tf.string,
"question_encoding": float32 [11], "relational": tf.bool}, answer tf.string)`, one per
question (20 per image, consecutive: shuffle with a buffer). `relational` is there for
metrics; models ignore input keys they do not use. Options: `num_images` (an int for
every split or a dict per split; default train 9800, validation 200, test 200), `seed`
(default 0), `cache` (default True).

>>> import mmzoo.datasets as mds
>>> train = mds.load("sort_of_clevr", split="train", num_images={"train": 1000})
>>> answer_question([("red", (10, 10), "circle"), ...], 0, relational=True, subtype=0)
"""

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from mmzoo.datasets import _common as common
from mmzoo.registry import DATASETS

IMAGE_SIZE = 75
OBJECT_SIZE = 5
MIN_GAP = 2 * OBJECT_SIZE + 2
NUM_QUESTIONS = 10  # of each kind, per image
COLOURS = ("red", "green", "blue", "orange", "gray", "yellow")
RGB = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255),
       "orange": (255, 156, 0), "gray": (128, 128, 128), "yellow": (255, 255, 0)}
SHAPES = ("rectangle", "circle")
ANSWERS = ("yes", "no", "rectangle", "circle", "1", "2", "3", "4", "5", "6")
ENCODING_SIZE = len(COLOURS) + 2 + 3
TEMPLATES = {
    (False, 0): "what is the shape of the {} object?",
    (False, 1): "is the {} object on the left?",
    (False, 2): "is the {} object on the top?",
    (True, 0): "what is the shape of the object closest to the {} object?",
    (True, 1): "what is the shape of the object furthest from the {} object?",
    (True, 2): "how many objects have the same shape as the {} object?",
}
DEFAULT_NUM_IMAGES = {"train": 9800, "validation": 200, "test": 200}
SPLIT_RULE = ("synthetic: num_images images per split, image j of split k (0 train, "
              "1 validation, 2 test) drawn from numpy.random.default_rng([seed, k, j]); "
              f"{2 * NUM_QUESTIONS} questions per image ({NUM_QUESTIONS} relational)")


def _colour_name(colour):
    if isinstance(colour, str):
        if colour not in COLOURS:
            raise ValueError(f"Unknown colour {colour!r}; expected one of {COLOURS}.")
        return colour
    return COLOURS[int(colour)]


def _objects(scene):
    """Normalizes a scene to `[(colour name, (x, y), shape), ...]`.

    Objects may be tuples `(colour, (x, y), shape)` or dicts with `colour`, `centre` (or
    `center`) and `shape`; a colour is a name or an index into `COLOURS`.
    """
    objects = []
    for obj in scene:
        if isinstance(obj, dict):
            centre = obj["centre"] if "centre" in obj else obj["center"]
            colour, shape = obj["colour"], obj["shape"]
        else:
            colour, centre, shape = obj
        if shape not in SHAPES:
            raise ValueError(f"Unknown shape {shape!r}; expected one of {SHAPES}.")
        objects.append((_colour_name(colour), (float(centre[0]), float(centre[1])), shape))
    return objects


def answer_question(scene, colour_index, relational, subtype):
    """The answer (a string of `ANSWERS`) to one question about `scene`.

    `scene`: objects `(colour, (x, y), shape)` (x = column, y = row, in pixels);
    `colour_index`: the queried object's colour (index into `COLOURS` or its name);
    `relational`: False for the non-relational, True for the relational subtypes 0-2.
    """
    objects = _objects(scene)
    colour = _colour_name(colour_index)
    matches = [i for i, obj in enumerate(objects) if obj[0] == colour]
    if len(matches) != 1:
        raise ValueError(f"The scene must hold exactly one {colour} object, found {len(matches)}.")
    me = matches[0]
    _, (x, y), shape = objects[me]
    if subtype not in (0, 1, 2):
        raise ValueError(f"subtype must be 0, 1 or 2, received {subtype!r}.")
    if not relational:
        if subtype == 0:
            return shape
        if subtype == 1:
            return "yes" if x < IMAGE_SIZE / 2 else "no"
        return "yes" if y < IMAGE_SIZE / 2 else "no"
    if subtype == 2:
        return str(sum(1 for obj in objects if obj[2] == shape))
    others = [i for i in range(len(objects)) if i != me]  # never the object itself
    if not others:
        raise ValueError("A relational question needs at least two objects in the scene.")
    distances = [(objects[i][1][0] - x) ** 2 + (objects[i][1][1] - y) ** 2 for i in others]
    pick = distances.index(min(distances) if subtype == 0 else max(distances))
    return objects[others[pick]][2]


def question_text(colour_index, relational, subtype):
    return TEMPLATES[(bool(relational), int(subtype))].format(_colour_name(colour_index))


def encode_question(colour_index, relational, subtype):
    """The 11-bit float32 encoding: colour one-hot, type one-hot, subtype one-hot."""
    encoding = np.zeros(ENCODING_SIZE, np.float32)
    encoding[COLOURS.index(_colour_name(colour_index))] = 1.0
    encoding[len(COLOURS) + int(bool(relational))] = 1.0
    encoding[len(COLOURS) + 2 + int(subtype)] = 1.0
    return encoding


def random_scene(rng):
    """6 objects, one per colour, random shape, centres >= MIN_GAP apart along x or y."""
    centres = []
    while len(centres) < len(COLOURS):
        centre = rng.integers(OBJECT_SIZE, IMAGE_SIZE - OBJECT_SIZE, 2)
        if all(max(abs(centre[0] - c[0]), abs(centre[1] - c[1])) >= MIN_GAP for c in centres):
            centres.append(centre)
    return [(colour, (int(c[0]), int(c[1])), SHAPES[int(rng.integers(2))])
            for colour, c in zip(COLOURS, centres)]


def draw_scene(scene):
    """uint8 `[75, 75, 3]`: white background, filled squares / circles."""
    image = np.full((IMAGE_SIZE, IMAGE_SIZE, 3), 255, np.uint8)
    rows, cols = np.mgrid[:IMAGE_SIZE, :IMAGE_SIZE]
    for colour, (x, y), shape in _objects(scene):
        if shape == "rectangle":
            mask = (abs(cols - x) <= OBJECT_SIZE) & (abs(rows - y) <= OBJECT_SIZE)
        else:
            mask = (cols - x) ** 2 + (rows - y) ** 2 <= OBJECT_SIZE ** 2
        image[mask] = RGB[colour]
    return image


def generate_image(rng):
    """One image and its 20 questions: 10 non-relational, then 10 relational."""
    scene = random_scene(rng)
    questions, answers, encodings, relational = [], [], [], []
    for is_relational in (False, True):
        for _ in range(NUM_QUESTIONS):
            colour, subtype = int(rng.integers(len(COLOURS))), int(rng.integers(3))
            questions.append(question_text(colour, is_relational, subtype))
            answers.append(answer_question(scene, colour, is_relational, subtype))
            encodings.append(encode_question(colour, is_relational, subtype))
            relational.append(is_relational)
    return scene, draw_scene(scene), {
        "questions": questions, "answers": answers,
        "encodings": np.stack(encodings), "relational": np.array(relational)}


def num_images_of(option):
    if isinstance(option, dict):
        unknown = sorted(set(option) - set(common.SPLITS))
        if unknown:
            raise ValueError(f"sort_of_clevr: num_images has unknown split(s) {unknown}; "
                             f"valid: {', '.join(common.SPLITS)}.")
        counts = {**DEFAULT_NUM_IMAGES, **option}
    else:
        counts = {split: option for split in common.SPLITS}
    for split, count in counts.items():
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0:
            raise ValueError(f"sort_of_clevr: num_images[{split!r}] must be an int >= 0, "
                             f"received {count!r}.")
    return {split: int(counts[split]) for split in common.SPLITS}


class SortOfClevrBuilder(common.Builder, skip_registration=True):
    """TFDS builder generating Sort-of-CLEVR images: one TFDS example per image."""

    name = "mmzoo_sort_of_clevr"

    def _info(self):
        return self.make_info(
            {
                "image": tfds.features.Image(shape=(IMAGE_SIZE, IMAGE_SIZE, 3)),
                "questions": tfds.features.Sequence(tfds.features.Text()),
                "answers": tfds.features.Sequence(tfds.features.Text()),
                "encodings": tfds.features.Tensor(shape=(None, ENCODING_SIZE), dtype=np.float32),
                "relational": tfds.features.Tensor(shape=(None,), dtype=np.bool_),
            },
            description=f"Sort-of-CLEVR (Santoro et al. 2017). {SPLIT_RULE}.",
        )

    def _split_generators(self, dl_manager):
        del dl_manager
        counts = num_images_of(self.options.get("num_images", DEFAULT_NUM_IMAGES))
        seed = int(self.options.get("seed", 0))
        return {split: self._generate_examples(seed, k, counts[split])
                for k, split in enumerate(common.SPLITS) if counts[split]}

    def _generate_examples(self, seed, split_index, count):
        for j in range(count):
            _, image, questions = generate_image(np.random.default_rng([seed, split_index, j]))
            yield j, {"image": image, **questions}


class SortOfClevrSpec(common.Spec):
    name = "sort_of_clevr"
    builder = SortOfClevrBuilder
    folder = None
    prep_options = {"num_images": dict(DEFAULT_NUM_IMAGES), "seed": 0}
    split_rule = SPLIT_RULE
    kind = "synthetic"
    modalities = ("image", "question")

    def options(self, given):
        options = super().options(given)
        options["num_images"] = num_images_of(options["num_images"])
        seed = options["seed"]
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"sort_of_clevr: seed must be a non-negative int, received {seed!r}.")
        options["seed"] = int(seed)
        return options

    def split_sizes(self, builder, options=None):
        counts = num_images_of(builder.options.get("num_images", DEFAULT_NUM_IMAGES))
        return {split: 2 * NUM_QUESTIONS * counts[split] for split in common.SPLITS}

    def empty_split_reason(self, builder, split):
        return "num_images is 0 for it"

    def read(self, builder, split, options):
        def decode(example):
            return (common.decoded_image(example["image"]), example["questions"],
                    example["answers"], example["encodings"], example["relational"])

        def expand(image, questions, answers, encodings, relational):
            image = common.float_image(image, (IMAGE_SIZE, IMAGE_SIZE, 3))
            rows = tf.data.Dataset.from_tensor_slices((questions, answers, encodings, relational))
            return rows.map(lambda q, a, e, r: (
                {"image": image, "question": q, "question_encoding": tf.ensure_shape(
                    e, (ENCODING_SIZE,)), "relational": r}, a))

        dataset = common.finish(self.as_dataset(builder, split), decode, cache=options["cache"])
        dataset = dataset.flat_map(expand)
        return common.with_cardinality(dataset, common.count_of(self.split_sizes(builder), split))

    def extra_info(self, builder, options):
        return {"answers": list(ANSWERS), "colours": list(COLOURS),
                "num_images": num_images_of(options["num_images"]),
                "questions_per_image": 2 * NUM_QUESTIONS,
                "image_shape": [IMAGE_SIZE, IMAGE_SIZE, 3]}


DATASETS.register("sort_of_clevr", SortOfClevrSpec(), kind="synthetic",
                  modalities=("image", "question"), task="vqa")
