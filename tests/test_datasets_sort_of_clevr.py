"""Sort-of-CLEVR: answers on a hand-computed scene, encodings, the generated data set."""

import numpy as np
import pytest
import tensorflow as tf

import mmzoo.datasets as mds
from mmzoo.datasets import sort_of_clevr as soc

# x = column, y = row. Shapes: rectangles red, orange; circles green, blue, gray, yellow.
SCENE = [
    ("red", (10, 10), "rectangle"),
    ("green", (22, 10), "circle"),
    ("blue", (60, 60), "circle"),
    ("orange", (60, 10), "rectangle"),
    ("gray", (10, 60), "circle"),
    ("yellow", (40, 40), "circle"),
]


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MMZOO_CACHE_DIR", str(tmp_path / "mmzoo_cache"))


def test_non_relational_answers():
    assert soc.answer_question(SCENE, 0, False, 0) == "rectangle"
    assert soc.answer_question(SCENE, "blue", False, 0) == "circle"
    assert soc.answer_question(SCENE, 0, False, 1) == "yes"    # x = 10 < 37.5
    assert soc.answer_question(SCENE, 2, False, 1) == "no"     # x = 60
    assert soc.answer_question(SCENE, 0, False, 2) == "yes"    # y = 10 < 37.5
    assert soc.answer_question(SCENE, 4, False, 2) == "no"     # y = 60


def test_relational_answers_exclude_the_object_itself():
    # Closest to red (10, 10): green at distance 12 (red itself, at 0, must not count;
    # it is a rectangle, green a circle).
    assert soc.answer_question(SCENE, "red", True, 0) == "circle"
    # Closest to yellow (40, 40): blue at 800 (green 1224, orange/gray 1300) -> circle.
    assert soc.answer_question(SCENE, "yellow", True, 0) == "circle"
    # Closest to orange (60, 10): yellow at 1300 (green 1444, red/blue 2500).
    assert soc.answer_question(SCENE, "orange", True, 0) == "circle"
    # Furthest from red: blue at (50^2 + 50^2) = 5000.
    assert soc.answer_question(SCENE, "red", True, 1) == "circle"
    # Furthest from green (22, 10): blue (38^2 + 50^2 = 3944) vs gray (144 + 2500) -> blue.
    assert soc.answer_question(SCENE, "green", True, 1) == "circle"
    # Furthest from gray (10, 60): orange (2500 + 2500 = 5000) -> rectangle.
    assert soc.answer_question(SCENE, "gray", True, 1) == "rectangle"
    # Counts include the object itself: 2 rectangles, 4 circles.
    assert soc.answer_question(SCENE, "red", True, 2) == "2"
    assert soc.answer_question(SCENE, "orange", True, 2) == "2"
    assert soc.answer_question(SCENE, "blue", True, 2) == "4"
    lonely = [("red", (10, 10), "rectangle"), ("green", (40, 40), "circle"),
              ("blue", (60, 60), "circle")]
    assert soc.answer_question(lonely, "red", True, 2) == "1"
    # Dicts work too, and closest never returns the queried object when it is nearest
    # to itself: the only rectangle is red, so "rectangle" would reveal the bug.
    as_dicts = [{"colour": c, "centre": xy, "shape": s} for c, xy, s in lonely]
    assert soc.answer_question(as_dicts, 0, True, 0) == "circle"
    assert soc.answer_question(as_dicts, 0, True, 1) == "circle"


def test_question_encoding_bits_and_text():
    np.testing.assert_array_equal(soc.encode_question(2, True, 1),
                                  [0, 0, 1, 0, 0, 0, 0, 1, 0, 1, 0])
    np.testing.assert_array_equal(soc.encode_question("yellow", False, 2),
                                  [0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1])
    assert soc.question_text(0, False, 0) == "what is the shape of the red object?"
    assert soc.question_text(3, True, 2) == (
        "how many objects have the same shape as the orange object?")
    assert soc.ANSWERS == ("yes", "no", "rectangle", "circle", "1", "2", "3", "4", "5", "6")


def test_scenes_are_drawn_without_overlap():
    rng = np.random.default_rng(3)
    for _ in range(30):
        scene = soc.random_scene(rng)
        assert [obj[0] for obj in scene] == list(soc.COLOURS)
        centres = [obj[1] for obj in scene]
        for i, a in enumerate(centres):
            for b in centres[i + 1:]:
                assert max(abs(a[0] - b[0]), abs(a[1] - b[1])) >= 2 * soc.OBJECT_SIZE + 2
    image = soc.draw_scene(SCENE)
    assert image.shape == (75, 75, 3) and image.dtype == np.uint8
    assert image[0, 74].tolist() == [255, 255, 255]
    for colour, (x, y), shape in SCENE:
        assert image[y, x].tolist() == list(soc.RGB[colour])
        corner = image[y - 5, x - 5].tolist()
        assert corner == (list(soc.RGB[colour]) if shape == "rectangle" else [255, 255, 255])


def test_generated_questions_match_their_scene():
    scene, image, q = soc.generate_image(np.random.default_rng(0))
    assert len(q["questions"]) == 20 and int(q["relational"].sum()) == 10
    for text, answer, bits, relational in zip(q["questions"], q["answers"], q["encodings"],
                                              q["relational"]):
        colour = int(np.argmax(bits[:6]))
        subtype = int(np.argmax(bits[8:]))
        assert bits[7] == relational and bits[6] == (not relational) and bits.sum() == 3
        assert text == soc.question_text(colour, relational, subtype)
        assert answer == soc.answer_question(scene, colour, relational, subtype)


def test_sort_of_clevr_dataset():
    num_images = {"train": 3, "validation": 2, "test": 1}
    dataset, info = mds.load("sort_of_clevr", split="train", num_images=num_images,
                             with_info=True)
    assert info["splits"] == {"train": 60, "validation": 40, "test": 20}
    assert info["answers"] == list(soc.ANSWERS)
    spec = tf.nest.map_structure(lambda s: (tuple(s.shape), s.dtype), dataset.element_spec)
    assert spec == ({"image": ((75, 75, 3), tf.float32), "question": ((), tf.string),
                     "question_encoding": ((11,), tf.float32), "relational": ((), tf.bool)},
                    ((), tf.string))
    elements = list(dataset.as_numpy_iterator())
    assert len(elements) == 60
    for start in range(0, 60, 20):  # the 20 questions of one image are consecutive
        image_questions = elements[start:start + 20]
        assert sum(bool(x["relational"]) for x, _ in image_questions) == 10
        first = image_questions[0][0]["image"]
        assert all(np.array_equal(x["image"], first) for x, _ in image_questions)
        assert first.max() == 255 and first.min() >= 0
    for inputs, answer in elements:
        assert answer.decode() in soc.ANSWERS
        bits = inputs["question_encoding"]
        assert soc.COLOURS[int(np.argmax(bits[:6]))] in inputs["question"].decode()
    assert sum(1 for _ in mds.load("sort_of_clevr", split="all", num_images=num_images)) == 120
    same = next(iter(mds.load("sort_of_clevr", num_images=num_images).as_numpy_iterator()))
    other = next(iter(mds.load("sort_of_clevr", num_images=num_images, seed=5)
                      .as_numpy_iterator()))
    np.testing.assert_array_equal(same[0]["image"], elements[0][0]["image"])
    assert not np.array_equal(other[0]["image"], elements[0][0]["image"])
    with pytest.raises(ValueError, match="'test' split of data set 'sort_of_clevr' is empty"):
        mds.load("sort_of_clevr", split="test", num_images={"train": 1, "test": 0})
