"""What the SavedModel of a multi-label model serves: every probability, the predicted labels as a
(batch, num_labels) bool mask, and the predicted set as one string per text, its names joined by
the model's label separator (in label order; empty where no label reaches its threshold).

Example (inside the serving graph):

    outputs = multi_label_outputs(probabilities, tf.constant(["joy", "love"]), tf.constant([0.5, 0.3]), ",")
    # {"probabilities": (batch, 2) float32, "predicted": (batch, 2) bool, "labels": (batch,) string}
"""

import tensorflow as tf


def multi_label_outputs(probabilities, label_names, thresholds, label_sep: str) -> dict:
    """The served outputs of `probabilities` (batch, k) under `thresholds` (k,)."""
    probabilities = tf.cast(probabilities, tf.float32)
    predicted = probabilities >= tf.cast(thresholds, tf.float32)[None, :]  # (batch, k)
    names = tf.broadcast_to(label_names[None, :], tf.shape(predicted))  # (batch, k) string
    chosen = tf.ragged.boolean_mask(names, predicted)  # (batch, None)
    return {
        "probabilities": probabilities,
        "predicted": predicted,
        "labels": tf.strings.reduce_join(chosen, axis=1, separator=label_sep),  # (batch,) string
    }
