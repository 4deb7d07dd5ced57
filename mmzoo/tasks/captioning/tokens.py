"""The captioning vocabulary's special tokens and their ids.

Ids 0 and 1 are TextVectorization's padding and [UNK]; `<start>` and `<end>` follow, then
the words.

>>> with_special_tokens(["dog", "<end>", "runs"])
['<start>', '<end>', 'dog', 'runs']
"""

START_TOKEN, END_TOKEN = "<start>", "<end>"
PAD_ID, UNK_ID, START_ID, END_ID = 0, 1, 2, 3
NEG_INF = -1.0e9


def with_special_tokens(vocabulary):
    """`vocabulary` with `<start>`, `<end>` in front (and no padding / [UNK] entries);
    None for an empty or missing vocabulary."""
    if vocabulary is None or len(vocabulary) == 0:
        return None
    words = [str(w) for w in vocabulary
             if str(w) not in (START_TOKEN, END_TOKEN, "", "[UNK]")]
    return [START_TOKEN, END_TOKEN] + words
