"""Saves small .keras files with mmzoo 0.1 (commit 3f31157), plus inputs and outputs."""
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, keras
import mmzoo
print(mmzoo.__file__)
keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
out = sys.argv[1]
texts = ["a dog runs on the grass", "two children play in the snow", "a red circle"]
images = rng.uniform(0, 255, (2, 32, 32, 3)).astype("float32")
arrays = {"images": images}
# classifier: text + image, late fusion
m = mmzoo.load("sentiment_late", modalities=("text", "image"), num_classes=3,
               image_options={"filters": [4, 8]}, image_size=32,
               text_options={"embed_dim": 8, "units": 4}, vocab_size=50, sequence_length=6)
m.adapt_text(texts)
ids = m.preprocess(text=texts[:2])["text"]
arrays["classifier_text"] = ids
arrays["classifier_out"] = np.asarray(m({"text": ids, "image": images}, training=False))
m.save(f"{out}/classifier.keras")
# vqa
v = mmzoo.load("vqa_san", answers=["yes", "no", "red"], image_options={"filters": [4, 8]},
               image_size=32, text_options={"embed_dim": 8, "units": 4}, vocab_size=50,
               sequence_length=6, fusion_options={"dim": 8, "attention_units": 8, "hops": 1},
               head_units=[8])
v.adapt_text(texts)
q = v.preprocess(image=images, question=texts[:2])["question"]
arrays["vqa_question"] = q
arrays["vqa_out"] = np.asarray(v({"image": images, "question": q}, training=False))
v.save(f"{out}/vqa.keras")
# captioner
c = mmzoo.load("caption_sat", image_options={"filters": [4, 8]}, image_size=32, vocab_size=30,
               embed_dim=8, feature_dim=8, lstm_units=8, attention_units=8, sequence_length=6,
               min_word_count=1)
c.adapt_text(texts)
cap = c.preprocess(caption=texts[:2])["caption"]
arrays["caption_tokens"] = cap
arrays["caption_out"] = np.asarray(c({"image": images, "caption": cap}, training=False))
c.save(f"{out}/captioner.keras")
# retriever
r = mmzoo.load("retrieval_dual_encoder", image_options={"filters": [4, 8]}, image_size=32,
               text_options={"embed_dim": 8, "filters": 4}, embed_dim=8, vocab_size=50,
               sequence_length=6)
r.adapt_text(texts)
t = r.preprocess(text=texts[:2])["text"]
arrays["retrieval_text"] = t
ro = r({"image": images, "text": t}, training=False)
arrays["retrieval_logits"] = np.asarray(ro["logits"])
r.save(f"{out}/retriever.keras")
np.savez(f"{out}/expected.npz", **arrays)
for f in sorted(os.listdir(out)):
    print(f, os.path.getsize(f"{out}/{f}"))
