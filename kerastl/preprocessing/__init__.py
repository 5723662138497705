"""Text to token ids: tokenizers, truncation, the preprocessor of kerastl's tasks and the in-graph
tokenizer of the SavedModel export."""

from kerastl.preprocessing.text_classifier_preprocessor import (
    TextClassifierPreprocessor,
    encode_examples,
    make_dataset,
)
from kerastl.preprocessing.tokenizers import load_tokenizer, tokenize

__all__ = ["TextClassifierPreprocessor", "encode_examples", "load_tokenizer", "make_dataset", "tokenize"]
