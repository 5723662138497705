"""Look at a labelled dataset before training: how many texts per class (a regression: how the
target is distributed), and how long they are.

Lengths are counted in the encoder's own tokens, special tokens included, without truncation,
so the share of texts longer than `max_length` is the share the model would see cut short. A
sentence pair counts as the model sees it: both texts packed into one sequence.
"""

import dataclasses
import json
import logging
import os
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from kerastl import encoders as backbone_lib
from kerastl._keras import transformers_without_torch
from kerastl.analysis.exploration_tasks import (
    labels_per_example,
    plot_labels_per_example,
    plot_target_distribution,
    target_summary,
)
from kerastl.analysis.plots import save_figure
from kerastl.config import DEFAULT_MAX_LENGTH, SAVED_CONFIG_FILE, SAVED_TOKENIZER_DIR
from kerastl.data.label_sets import task_name
from kerastl.data.text_examples import TextExamples, as_examples
from kerastl.encoders.sources import hub_unreachable, looks_like_path
from kerastl.errors import BackboneError, DataError

logger = logging.getLogger(__name__)

EXPLORED_TASKS = ("classification", "multi_label", "regression")


def token_lengths(texts: Sequence[str], tokenizer, text_pairs: Optional[Sequence[str]] = None) -> np.ndarray:
    """Tokens per text, special tokens included and nothing truncated: (n,) int64. With
    `text_pairs`, tokens per pair packed as the model reads it (`[CLS] a [SEP] b [SEP]`)."""
    pairs = None if text_pairs is None else list(text_pairs)
    ids = tokenizer(list(texts), pairs, truncation=False, verbose=False, return_attention_mask=False,
                    return_token_type_ids=False)["input_ids"]
    return np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))


def resolve_tokenizer(source):
    """A tokenizer from an object, a saved kerastl model, a preset, a model folder or a hub name."""
    if not isinstance(source, (str, os.PathLike)):
        return backbone_lib.load_tokenizer(source)
    if str(source) in backbone_lib.PRESETS:
        return backbone_lib.load_tokenizer(backbone_lib.preset_path(str(source)))
    saved_model_tokenizer = Path(source) / SAVED_TOKENIZER_DIR
    if (Path(source) / SAVED_CONFIG_FILE).is_file() and saved_model_tokenizer.is_dir():
        return backbone_lib.load_tokenizer(saved_model_tokenizer)
    if Path(source).exists() or looks_like_path(str(source)):
        return backbone_lib.load_tokenizer(source)
    return _hub_tokenizer(str(source))


def _hub_tokenizer(name: str):
    """The tokenizer of a hub model: fetched, or offline from the hub's cache, or one line saying
    what to give instead (offline, transformers would retry the hub for about a minute)."""
    import huggingface_hub

    offline = "HF_HUB_OFFLINE is set" if huggingface_hub.constants.HF_HUB_OFFLINE else hub_unreachable()
    if offline is None:
        return backbone_lib.load_tokenizer(name)
    try:
        return transformers_without_torch().AutoTokenizer.from_pretrained(name, local_files_only=True)
    except (OSError, ValueError):
        raise BackboneError(
            f"cannot load the tokenizer of {name!r}: the Hugging Face Hub is out of reach ({offline}) and "
            f"it is not in the local cache; count tokens with the offline preset, --model all-minilm-l6-v2 "
            f"(tokenizer='all-minilm-l6-v2'), a model folder or a saved kerastl model"
        ) from None


@dataclasses.dataclass
class Exploration:
    """Labels and token counts of a dataset, with the summary and plots drawn from them.

    Args:
        labels: the label of every text, as strings (a regression: the scores, as floats;
            multi-label: a tuple of names per text).
        tokens: tokens per text (per packed pair), untruncated, (n,).
        max_length: the model's token limit; longer texts would be truncated.
        source: the dataset's name, for titles and the summary.
        task: `"classification"`, `"multi_label"` or `"regression"`.
        pairs: whether the examples are sentence pairs, whose `tokens` count both texts.

    Example (`explore(train, "all-minilm-l6-v2", max_length=128)` takes the preset's tokenizer):
    >>> exploration = explore(train, tokenizer, max_length=24)
    >>> exploration.fraction_truncated()
    0.0
    >>> summary = exploration.save("runs/explore")
    """

    labels: list
    tokens: np.ndarray
    max_length: int
    source: str = "data"
    task: str = "classification"
    pairs: bool = False

    def __repr__(self):
        return f"Exploration({self.summary()})"

    def class_counts(self) -> pd.Series:
        """Texts per label, most frequent first (multi-label: texts that carry each label)."""
        names = [n for names in self.labels for n in names] if self.task == "multi_label" else self.labels
        return pd.Series(names, dtype=object).value_counts().rename("examples")

    def fraction_truncated(self) -> float:
        """The share of texts with more than `max_length` tokens."""
        return float(np.mean(self.tokens > self.max_length))

    def summary(self) -> dict:
        """Counts per label (a regression: the target's range, mean and spread), token statistics
        and the share of texts `max_length` would cut."""
        if self.task == "regression":
            target = {"target": target_summary(self.labels)}
        elif self.task == "multi_label":
            target = {"label_counts": {str(k): int(v) for k, v in self.class_counts().items()},
                      "labels_per_example": labels_per_example(self.labels),
                      "mean_labels_per_example": round(float(np.mean([len(n) for n in self.labels])), 4)}
        else:
            counts = self.class_counts()
            target = {"class_counts": {str(k): int(v) for k, v in counts.items()},
                      "largest_to_smallest_class": round(float(counts.iloc[0] / counts.iloc[-1]), 2)}
        return {
            "source": self.source,
            "task": self.task,
            "n": len(self.labels),
            "text_pairs": self.pairs,
            **target,
            "tokens_per_text": {
                "median": float(np.median(self.tokens)),
                "mean": round(float(np.mean(self.tokens)), 2),
                "p95": float(np.percentile(self.tokens, 95)),
                "max": int(self.tokens.max()),
            },
            "max_length": self.max_length,
            "longer_than_max_length": int(np.sum(self.tokens > self.max_length)),
            "fraction_longer_than_max_length": round(self.fraction_truncated(), 6),
        }

    def summary_text(self) -> str:
        """The summary as a few lines for a person to read."""
        s = self.summary()
        texts = "text pairs" if self.pairs else "texts"
        if self.task == "regression":
            t = s["target"]
            head = [f"{s['source']}: {s['n']} {texts}, a numeric target",
                    f"target: min {t['min']:g}, max {t['max']:g}, mean {t['mean']:.3f}, std {t['std']:.3f}, "
                    f"median {t['median']:g}"]
        elif self.task == "multi_label":
            counts = ", ".join(f"{k} {v}" for k, v in s["label_counts"].items())
            sizes = ", ".join(f"{k}: {v}" for k, v in s["labels_per_example"].items())
            head = [f"{s['source']}: {s['n']} {texts}, {len(s['label_counts'])} labels, a set per text",
                    f"texts per label: {counts}",
                    f"labels per text: {sizes} (mean {s['mean_labels_per_example']:.2f})"]
        else:
            counts = ", ".join(f"{k} {v}" for k, v in s["class_counts"].items())
            head = [f"{s['source']}: {s['n']} {texts}, {len(s['class_counts'])} labels",
                    f"class counts: {counts} (largest/smallest {s['largest_to_smallest_class']:.1f}x)"]
        tokens = s["tokens_per_text"]
        what = "pair (both texts packed, " if self.pairs else "text ("
        return "\n".join([
            *head,
            f"tokens per {what}special tokens included): median {tokens['median']:g}, "
            f"mean {tokens['mean']:.1f}, 95th percentile {tokens['p95']:g}, max {tokens['max']}",
            f"{texts} longer than max_length={s['max_length']}, which the model sees truncated: "
            f"{s['longer_than_max_length']} ({100 * s['fraction_longer_than_max_length']:.2f}%)",
        ])

    def plot_class_counts(self, *, path=None) -> Figure:
        """A horizontal bar per label, largest on top, with its count."""
        counts = self.class_counts().iloc[::-1]  # barh draws bottom-up
        figure = Figure(figsize=(6.4, max(3.0, 0.45 * len(counts) + 1.4)), layout="constrained")
        ax = figure.add_subplot()
        bars = ax.barh([str(k) for k in counts.index], counts.to_numpy(), color="C0")
        ax.bar_label(bars, padding=3)
        ax.set_xlim(0, counts.max() * 1.15)
        per = "label" if self.task == "multi_label" else "class"
        ax.set_title(f"Examples per {per} ({_short(self.source)}, n={len(self.labels)})")
        ax.set_xlabel("Examples")
        ax.set_ylabel("Label")
        return save_figure(figure, path)

    def plot_target_distribution(self, *, path=None) -> Figure:
        """A regression's histogram of the targets, with their mean."""
        return plot_target_distribution(self.labels, title=f"{_short(self.source)}, n={len(self.labels)}", path=path)

    def plot_token_lengths(self, *, path=None) -> Figure:
        """A box plot of tokens per text for each label (a regression: one box), with `max_length`
        drawn across."""
        if self.task != "classification":
            names, groups = ["all pairs" if self.pairs else "all texts"], [self.tokens]
        else:
            names = sorted(set(self.labels))
            labels = np.asarray(self.labels, dtype=object)
            groups = [self.tokens[labels == name] for name in names]
        figure = Figure(figsize=(max(6.4, 0.9 * len(names) + 2.0), 4.6), layout="constrained")
        ax = figure.add_subplot()
        ax.boxplot(groups, tick_labels=names, showfliers=True, flierprops={"markersize": 3, "alpha": 0.4},
                   medianprops={"color": "C1", "linewidth": 2})
        longer = f"{100 * self.fraction_truncated():.1f}% of texts longer"
        limit = f"max_length = {self.max_length} ({longer})"
        ax.axhline(self.max_length, color="C3", linestyle="--", linewidth=1.5, label=limit)
        ax.text(0.99, self.max_length, limit, transform=ax.get_yaxis_transform(), ha="right", va="bottom",
                color="C3", bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1})
        ax.set_ylim(0, max(self.max_length, int(self.tokens.max())) * 1.12)
        what = "pair (both texts packed)" if self.pairs else "text"
        by_class = self.task == "classification"
        ax.set_title(f"Tokens per {what}{' by class' if by_class else ''} ({_short(self.source)})")
        ax.set_xlabel("Label" if by_class else "Examples")
        ax.set_ylabel(f"Tokens per {what}, special tokens included")
        if len(names) > 8 or max(map(len, names)) > 10:
            ax.tick_params(axis="x", labelrotation=45)
        ax.grid(axis="y", alpha=0.3)
        return save_figure(figure, path)

    def save(self, directory) -> dict:
        """Write `class_counts.png` (a regression: `target_distribution.png`), `tokens_per_text.png`,
        `summary.json` and `summary.txt`."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        if self.task == "regression":
            figure = "target_distribution.png"
            self.plot_target_distribution(path=directory / figure)
        elif self.task == "multi_label":
            figure = "class_counts.png and labels_per_example.png"
            self.plot_class_counts(path=directory / "class_counts.png")
            plot_labels_per_example(self.labels, title=_short(self.source), path=directory / "labels_per_example.png")
        else:
            figure = "class_counts.png"
            self.plot_class_counts(path=directory / figure)
        self.plot_token_lengths(path=directory / "tokens_per_text.png")
        summary = self.summary()
        (directory / "summary.json").write_text(json.dumps(summary, indent=2))
        (directory / "summary.txt").write_text(self.summary_text() + "\n")
        logger.info("explore: wrote %s, tokens_per_text.png, summary.json and summary.txt to %s", figure, directory)
        return summary


def _short(source: str) -> str:
    """A file path as its last folder and name ("emotion/train.txt"), for plot titles."""
    path = Path(source)
    return str(Path(path.parent.name) / path.name) if len(path.parts) > 2 else source


def explore(examples: TextExamples, tokenizer, *, max_length: int = DEFAULT_MAX_LENGTH,
            directory: Optional[os.PathLike] = None, task: Optional[str] = None) -> Exploration:
    """Count the texts per label (a regression: the target's distribution) and the tokens per text
    (per packed pair, for sentence pairs) of labelled examples.

    Args:
        examples: labelled examples: `TextExamples` (e.g. from `read_examples`), or anything
            `kerastl.as_examples` accepts with labels.
        tokenizer: a tokenizer, or where to load one: a preset name, a model folder, a saved
            kerastl model or a hub name.
        max_length: the token limit to compare the lengths with.
        directory: also write the plots and summary there (see `Exploration.save`).
        task: `"classification"` (default: labels as classes), `"regression"` (numeric targets,
            read as scores) or `"multi_label"` (a set of names per text); never guessed.

    Example:
    >>> exploration = explore(train, model.tokenizer, max_length=model.max_length)
    >>> print(exploration.summary_text())
    train: 64 texts, 2 labels
    class counts: pos 32, neg 32 (largest/smallest 1.0x)
    tokens per text (special tokens included): median 13, mean 12.9, 95th percentile 21.85, max 22
    texts longer than max_length=24, which the model sees truncated: 0 (0.00%)
    """
    task = task_name(task) or "classification"
    if task not in EXPLORED_TASKS:
        raise ValueError(f"task must be one of {list(EXPLORED_TASKS)}, received task={task!r}")
    examples = as_examples(examples, labelled=True, what="explore(examples)", task=task)
    if len(examples) == 0:
        raise DataError(f"{examples.source} holds no examples")
    if max_length < 1:
        raise DataError(f"max_length must be >= 1, received max_length={max_length}")
    logger.info("explore: counting the tokens of %d texts (%s)", len(examples), examples.source)
    if task == "classification":
        examples.label_names()  # what training would refuse (scores, label sets, one class) stops here too
    pairs = getattr(examples, "text_pairs", None)
    tokens = token_lengths(examples.texts, resolve_tokenizer(tokenizer), pairs)
    if task == "regression":
        labels = [float(y) for y in examples.labels]
    elif task == "multi_label":
        labels = [tuple(str(name) for name in names) for names in examples.labels]
    else:
        labels = [str(y) for y in examples.labels]
    exploration = Exploration(labels, tokens, int(max_length), examples.source, task, pairs is not None)
    if directory is not None:
        exploration.save(directory)
    return exploration
