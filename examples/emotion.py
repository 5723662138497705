"""
Title: Emotions in tweets, end to end: the NLP-with-Transformers text-classification chapter
Description: explore the data, try frozen features, fine-tune in two phases, study the errors.

Chapter 2 of *Natural Language Processing with Transformers* (Tunstall, von Werra and Wolf)
classifies English tweets into six emotions. Its workflow is the one to learn for any text
classifier, and here each step is one kerastl call:

1. look at the data: how many tweets per emotion, how long they are in tokens;
2. a baseline: the frozen encoder's [CLS] vectors as features for a logistic regression;
3. fine-tune: the head on the frozen encoder, then the whole model at a low learning rate;
4. a report: accuracy, F1 per class, the confusion matrix, the training curves;
5. error analysis: the validation tweets with the highest loss, where mislabelled data hides;
6. save the model, load it back, and classify a new tweet.

Run it with the `emotion` dataset from the Hugging Face Hub (online):

    python examples/emotion.py

or offline with a folder of `text;label` split files (`train.txt`, `validation.txt` or
`val.txt`, and optionally `test.txt`), such as this repository's `../shared/data/emotion`:

    python examples/emotion.py --data ../shared/data/emotion

`--tiny` runs every step on a tiny random encoder and a few hundred tweets in about a minute:
it checks the script, not the task. Everything is written under `--output`.
"""

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window

import pandas as pd  # noqa: E402

import kerastl  # noqa: E402
from kerastl.analysis.evaluation import plot_probabilities  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.split("\n")[2])
parser.add_argument("--data", default="dair-ai/emotion",
                    help="a hub dataset name, or a folder of text;label split files (default: %(default)s)")
parser.add_argument("--model", default="all-minilm-l6-v2", help="encoder to fine-tune (default: %(default)s)")
parser.add_argument("--output", type=Path, default=Path("runs/emotion-example"),
                    help="folder for the plots, the report and the model (default: %(default)s)")
parser.add_argument("--head-epochs", type=int, default=2, help="phase 1 epochs (default: %(default)s)")
parser.add_argument("--epochs", type=int, default=2, help="phase 2 epochs (default: %(default)s)")
parser.add_argument("--train-size", type=int, help="use only the first N training tweets (default: all)")
parser.add_argument("--tiny", action="store_true", help="a tiny random encoder, to check the script")
args = parser.parse_args()

"""## Load the data

From the hub, `datasets.load_dataset` gives integer labels and their names in the features;
they become `TextExamples` with label names. From a folder, `kerastl.read_examples` reads the
headerless `text;label` lines. The folder in this repository has no test split, so there the
validation split is also the one the final report scores (the chapter reports on validation too).
"""


def load_emotion(location: str) -> dict:
    """{"train", "validation"[, "test"]} TextExamples from a folder of split files or the hub."""
    folder = Path(location)
    if folder.is_dir():
        files = {"train": "train.txt", "validation": "validation.txt", "test": "test.txt"}
        if not (folder / files["validation"]).is_file():
            files["validation"] = "val.txt"  # the name in the original CARER release
        return {split: kerastl.read_examples(folder / name, sep=";", names=["text", "label"])
                for split, name in files.items() if (folder / name).is_file()}
    from datasets import load_dataset

    emotions = load_dataset(location)
    names = emotions["train"].features["label"].names  # ["sadness", "joy", "love", "anger", ...]
    return {split: kerastl.TextExamples(ds["text"], [names[i] for i in ds["label"]], f"{location}/{split}")
            for split, ds in emotions.items()}


def first(examples, n):
    return kerastl.TextExamples(examples.texts[:n], examples.labels[:n], examples.source)


splits = load_emotion(args.data)
train, validation = splits["train"], splits["validation"]
report_split = "test" if "test" in splits else "validation"
if args.train_size:
    train = first(train, args.train_size)
if args.tiny:
    train, validation = first(train, 320), first(validation, 160)
evaluation_data = validation if report_split == "validation" else splits["test"]
print({name: len(split) for name, split in splits.items()}, f"training on {len(train)};",
      f"the report scores the {report_split} split")
out = args.output

"""## The model

A `TextClassifier` is the encoder with a dropout + dense head on its [CLS] vector. Its
tokenizer and `max_length` also serve the exploration below.
"""

if args.tiny:
    from transformers import BertConfig, BertTokenizerFast

    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=37, max_position_embeddings=512)
    tokenizer = BertTokenizerFast(vocab_file=str(kerastl.preset_path("all-minilm-l6-v2") / "vocab.txt"))
    model = kerastl.TextClassifier.from_backbone(config, train.label_names(), tokenizer=tokenizer,
                                                 max_length=64)
else:
    model = kerastl.TextClassifier.from_backbone(args.model, train.label_names(), max_length=128)

"""## 1. Look at the data

Joy and sadness dominate; surprise is rare. A classifier that ignores the rare classes can
still score a high accuracy, which is why the report shows macro F1 and per-class figures.
Tweets are short: `max_length` truncates almost none of them.
"""

exploration = kerastl.explore(train, model.tokenizer, max_length=model.max_length, directory=out / "explore")
print(exploration.summary_text())

"""## 2. The feature-extraction baseline

The encoder stays frozen: its [CLS] hidden state of each tweet is a fixed feature vector, and
a logistic regression learns from those. Always predicting the most frequent emotion shows
what a score means.
"""

start = time.time()
baseline = kerastl.feature_baseline(model, train, validation, directory=out / "baseline")
print(f"baselines on the validation split ({time.time() - start:.0f} s):")
print(baseline.summary_text())

"""## 3. Fine-tune in two phases

Phase 1 trains the head on the frozen encoder (its [CLS] vectors are computed once). Phase 2
unfreezes everything and trains at a low learning rate with warmup and cosine decay.
"""

start = time.time()
history = kerastl.fine_tune(model, train, validation, head_epochs=args.head_epochs, epochs=args.epochs)
print(f"fine-tuned in {time.time() - start:.0f} s")

"""## 4. The report

`write_report` writes metrics.json, the row-normalised confusion matrix and the training
curves of both phases (the phase boundary marked), and the error analysis as CSV files.
"""

evaluation = kerastl.write_report(model, evaluation_data, out / "report")
print(f"fine-tuned model on the {report_split} split:")
print(evaluation.classification_report())
fine_tuned = evaluation.scores() if report_split == "validation" else kerastl.evaluate(model, validation)
comparison = pd.DataFrame({**baseline.scores(), "fine_tuned": fine_tuned}).T
print("baselines against fine-tuning, validation split:")
print(comparison[["accuracy", "macro_f1", "weighted_f1"]].round(3).to_string())

"""## 5. Error analysis

Sort the examples by their loss. The highest-loss tweets are confident mistakes: some are
the model's, and some are wrong labels in the data (the chapter finds several). The
lowest-loss tweets show what the model has learnt best.
"""


def show(rows):
    for row in rows.itertuples():
        print(f"  {row.loss:5.2f}  {row.label:>8} -> {row.predicted:<8}  {row.text[:100]}")


print("highest loss (loss, label -> predicted, text):")
show(evaluation.highest_loss(10))
print("lowest loss:")
show(evaluation.lowest_loss(5))

"""## 6. Save, reload and classify a new tweet"""

model.save_pretrained(out / "model", overwrite=True)
reloaded = kerastl.TextClassifier.from_pretrained(out / "model")
tweet = "I saw a movie today and it was really good."
record = kerastl.predict_one(reloaded, tweet)
plot_probabilities(record["probabilities"], text=tweet, path=out / "report" / "new_tweet.png")
print(f"{record['label']} {record['probabilities'][record['label']]:.2f}  {tweet}")
print(f"plots and report in {out}: explore/, baseline/, report/; the model in {out / 'model'}")
