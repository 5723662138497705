"""
Title: The Hugging Face fine-tuning tutorial's Keras section, the kerastl way
Description: NumPy arrays padded to the longest text against `tf.data` batches padded per batch.

The Hugging Face tutorial "Fine-tune a pretrained model" trains a Keras model in two ways. The
first tokenizes the whole dataset into NumPy arrays, padded to the longest example, and hands
them to `model.fit`; it is simple, but every batch carries the padding of the dataset's
longest text. The second builds a `tf.data` pipeline that pads each batch only to its own
longest text. A kerastl `TextClassifier` is a `keras.Model`, so both work unchanged; this
script runs both on the Rotten Tomatoes snippets that ship offline, and counts the padding
tokens each way feeds the model.

    python examples/keras_quickstart.py           # all-MiniLM-L6-v2, 2,000 snippets, a few minutes
    python examples/keras_quickstart.py --tiny    # a tiny random encoder, to check the script
"""

import argparse
import time

import kerastl
from kerastl import keras
from kerastl.data.labels import encode_labels
from kerastl.data.sample_data import rotten_tomatoes

parser = argparse.ArgumentParser(description=__doc__.split("\n")[2])
parser.add_argument("--model", default="all-minilm-l6-v2", help="encoder to fine-tune (default: %(default)s)")
parser.add_argument("--train-size", type=int, default=2000, help="training snippets (default: %(default)s)")
parser.add_argument("--batch-size", type=int, default=16, help="(default: %(default)s)")
parser.add_argument("--tiny", action="store_true", help="a tiny random encoder, to check the script")
args = parser.parse_args()

"""## The data and the model

The tutorial's model is `TFAutoModelForSequenceClassification`; here it is a `TextClassifier`,
the encoder with a dropout + dense head on its [CLS] vector, which outputs logits.
"""

splits = rotten_tomatoes()
size = 256 if args.tiny else args.train_size
train = kerastl.TextExamples(splits["train"].texts[:size], splits["train"].labels[:size], "train")
validation = splits["validation"]
print(f"{len(train)} training snippets, {len(validation)} validation snippets")


def build_model():
    keras.utils.set_random_seed(0)  # both ways start from the same head
    if not args.tiny:
        return kerastl.TextClassifier.from_backbone(args.model, train.label_names(), max_length=128)
    from transformers import BertConfig, BertTokenizerFast

    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=37, max_position_embeddings=512)
    tokenizer = BertTokenizerFast(vocab_file=str(kerastl.preset_path("all-minilm-l6-v2") / "vocab.txt"))
    return kerastl.TextClassifier.from_backbone(config, train.label_names(), tokenizer=tokenizer,
                                                max_length=128)


"""## Way 1: the whole dataset as NumPy arrays

As in the tutorial: tokenize everything at once with `padding=True`, which pads every text to
the longest one (here truncated at the model's `max_length`), then `fit` on a dict of arrays.
The tutorial compiles without a loss; `TextClassifier.compile` picks sparse categorical
cross-entropy on logits the same way.
"""

model = build_model()
tokenized = model.tokenizer(train.texts, padding=True, truncation=True, max_length=model.max_length,
                            return_tensors="np")
features = {"input_ids": tokenized["input_ids"], "attention_mask": tokenized["attention_mask"]}
labels = encode_labels(train.labels, model.label_names, train.source)
real_tokens = int(features["attention_mask"].sum())
array_padding = int(features["attention_mask"].size) - real_tokens
print(f"arrays: {features['input_ids'].shape} (texts, tokens of the longest text)")

model.compile(optimizer=keras.optimizers.Adam(3e-5))  # no loss argument, as in the tutorial
start = time.time()
model.fit(features, labels, batch_size=args.batch_size, epochs=1)
array_seconds = time.time() - start
array_scores = kerastl.evaluate(model, validation)

"""## Way 2: `tf.data`, padded per batch

`make_dataset` tokenizes once and pads each batch only to its own longest text. Shuffled at
random, a batch still holds one long text now and then; with `bucket=True` (the default when
shuffling) each window of batches is sorted by length first, so a batch holds texts of
similar length and carries little padding, yet every epoch sees a new order.
"""


def padding_tokens(dataset) -> int:
    """Padding positions fed to the model in one pass over `dataset`."""
    masks = [features["attention_mask"].numpy() for features, _ in dataset]  # (batch, longest) each
    return sum(int(mask.size - mask.sum()) for mask in masks)


model = build_model()
random_batches = model.make_dataset(train, batch_size=args.batch_size, shuffle=True, seed=0, bucket=False)
bucketed = model.make_dataset(train, batch_size=args.batch_size, shuffle=True, seed=0, bucket=True)
random_padding, bucketed_padding = padding_tokens(random_batches), padding_tokens(bucketed)

model.compile(optimizer=keras.optimizers.Adam(3e-5))
start = time.time()
model.fit(bucketed, epochs=1)
dataset_seconds = time.time() - start
dataset_scores = kerastl.evaluate(model, validation)

"""## What each way feeds the model

The real tokens are the same every way; only the padding differs, and the encoder spends its
time on padding positions as on real ones.
"""

print(f"\n{real_tokens} real tokens in one epoch; padding tokens fed with them:")
rows = [("NumPy arrays, padded to the longest text", array_padding),
        ("tf.data, padded per batch (random batches)", random_padding),
        ("tf.data, padded per batch, length-bucketed", bucketed_padding)]
for name, padding in rows:
    share = padding / (padding + real_tokens)
    print(f"  {name:<44} {padding:>9}  ({share:.0%} of the positions the model reads)")
print(f"one epoch: arrays {array_seconds:.1f} s, bucketed tf.data {dataset_seconds:.1f} s")
print(f"validation accuracy: arrays {array_scores['accuracy']:.3f}, "
      f"bucketed tf.data {dataset_scores['accuracy']:.3f}")
