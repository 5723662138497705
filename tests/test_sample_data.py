import pandas as pd
import pytest

import kerastl
from kerastl.data import sample_data


@pytest.fixture(scope="module")
def splits():
    try:
        return sample_data.rotten_tomatoes()
    except kerastl.DataError as err:
        pytest.skip(str(err))


def test_rotten_tomatoes_splits_by_movie(splits):
    frame = pd.read_csv(sample_data.rotten_tomatoes_path())
    frame = frame[frame["category"].isin(["fresh", "rotten"])]
    assert sum(len(s) for s in splits.values()) == len(frame) == 12808
    movies_of = frame.groupby("text")["movie_name"].agg(frozenset)
    unique = {text: next(iter(m)) for text, m in movies_of.items() if len(m) == 1}  # 37 texts recur
    movies = {name: {unique[t] for t in split.texts if t in unique} for name, split in splits.items()}
    assert not movies["train"] & movies["validation"]
    assert not movies["train"] & movies["test"]
    assert not movies["validation"] & movies["test"]
    assert 0.75 < len(splits["train"]) / len(frame) < 0.85
    assert splits["train"].label_names() == ("fresh", "rotten")
