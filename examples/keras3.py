"""
Title: kerastl from Keras 3 code: fit, save, load and serve
Description: the README's Keras 3 example, on the Rotten Tomatoes snippets that ship offline.

A kerastl `TextClassifier` is a Keras 3 `keras.Model` on a KerasHub backbone, so the Keras a
user already imports (`import keras`) trains it: its optimizers, callbacks, `model.save` and
`keras.models.load_model`. The exported SavedModel answers raw strings in a process that
imports TensorFlow alone.

    python examples/keras3.py            # all-MiniLM-L6-v2, 2,000 snippets, a few minutes on 2 cores
    python examples/keras3.py --output runs/keras3
"""

import argparse
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np

import kerastl
from kerastl.data.sample_data import rotten_tomatoes

parser = argparse.ArgumentParser(description=__doc__.split("\n")[2])
parser.add_argument("--train-size", type=int, default=2000, help="training snippets (default: %(default)s)")
parser.add_argument("--output", default="runs/keras3", help="folder for the .keras file and the export")
args = parser.parse_args()
out = Path(args.output)

"""## Train with Keras 3's own objects"""

splits = rotten_tomatoes()
train, validation = splits["train"], splits["validation"]
texts, labels = train.texts[: args.train_size], train.labels[: args.train_size]

model = kerastl.TextClassifier.from_backbone("all-minilm-l6-v2", label_names=["fresh", "rotten"])
assert isinstance(model, keras.Model)
model.compile(optimizer=keras.optimizers.AdamW(5e-5))  # loss and accuracy default sensibly
model.fit(texts, labels, validation_data=(validation.texts, validation.labels), epochs=2, batch_size=32,
          callbacks=[keras.callbacks.EarlyStopping(patience=1, restore_best_weights=True)])

"""## Save, load back with Keras, export for serving"""

out.mkdir(parents=True, exist_ok=True)
model.save(out / "rotten_tomatoes.keras")
loaded = keras.models.load_model(out / "rotten_tomatoes.keras")
reviews = ["A warm, funny and moving film.", "Two hours I will never get back."]
assert loaded.label_names == model.label_names
np.testing.assert_allclose(loaded.predict(reviews), model.predict(reviews), atol=1e-5)
print(kerastl.predict(loaded, reviews).records())
print("test accuracy:", round(kerastl.evaluate(loaded, splits["test"])["accuracy"], 4))

version = kerastl.export_saved_model(model, out / "serving", overwrite=True, version=1)
serve = (
    "import sys, tensorflow as tf\n"
    "serving = tf.saved_model.load(sys.argv[1]).signatures['serving_default']\n"
    "print(serving(tf.constant(sys.argv[2:])))\n"
    "assert not any(name.split('.')[0] in ('kerastl', 'keras_hub', 'transformers') for name in sys.modules)\n"
)
answer = subprocess.run([sys.executable, "-c", serve, str(version), *reviews], capture_output=True, text=True)
assert answer.returncode == 0, answer.stderr[-2000:]
print("a TensorFlow-only process answers:", answer.stdout.strip())
