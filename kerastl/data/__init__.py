"""Examples in: files, DataFrames, `datasets` tables and Python lists read as texts and labels
(`text_examples`, `tables`, `labels`), and the one module that batches them by length (`batching`)."""

from kerastl.data.text_examples import ACCEPTED, TextExamples, as_examples, read_examples

__all__ = ["ACCEPTED", "TextExamples", "as_examples", "read_examples"]
