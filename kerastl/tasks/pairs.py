"""Single texts or sentence pairs: what a task reads, and the features it feeds its encoder.

A task reads sentence pairs once `text_pair` is true: given `text_pair=True` when it is made, read
from a saved config, or learnt from the first pairs it is given (`fit((texts_a, texts_b), y)`,
a file with a `text_pair` column). Its preprocessor holds the flag and refuses the other kind
of input; a pair task on an encoder that embeds segment ids (BERT) feeds it `token_type_ids`.
"""

import tensorflow as tf

SEGMENT_FEATURE = "token_type_ids"


class PairInputs:
    """The part of `kerastl.tasks.Task` that knows whether it reads pairs (a mixin)."""

    @property
    def text_pair(self) -> bool:
        """Whether the model reads sentence pairs (`(texts_a, texts_b)`, a `text_pair` column)."""
        return bool(self.preprocessor.text_pair)

    @property
    def input_names_(self) -> tuple:
        """The features the encoder reads: its own, and `token_type_ids` for pairs where it takes them."""
        names = self.encoder.input_names
        if self.preprocessor.text_pair and self.encoder.takes_segments and SEGMENT_FEATURE not in names:
            names = (*names, SEGMENT_FEATURE)
        return names

    def _dummy_inputs(self):
        ids = tf.constant([[0, 1]], dtype=tf.int32)
        inputs = {"input_ids": ids, "attention_mask": tf.ones_like(ids)}
        if SEGMENT_FEATURE in self.input_names_:
            inputs[SEGMENT_FEATURE] = tf.zeros_like(ids)
        return inputs

    def _encoder_features(self, inputs):
        # A tokenizer that gives no segment ids (or token batches built without them): segment 0.
        return {name: inputs[name] if name in inputs or name != SEGMENT_FEATURE else tf.zeros_like(inputs["input_ids"])
                for name in self.input_names_}
