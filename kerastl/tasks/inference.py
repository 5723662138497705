"""Inference over many texts: a task's forward pass on batches by length, in input order.

Every caller that runs a model over encoded examples outside `keras.Model.predict` (the phase-1
feature cache, `kerastl.predict` and `evaluate`, the feature baseline) comes through `run_by_length`:
one traced function per model and output, batches cut by `kerastl.data.batching.by_length`.
"""

import tensorflow as tf

from kerastl._keras import keras
from kerastl._logging import progress_verbosity
from kerastl.data.batching import by_length

# output name -> what the task computes from its encoder features, in inference mode
OUTPUTS = {
    "pooled": lambda model, features: model._pool(features, training=False),  # (batch, dim)
    "logits": lambda model, features: model(features, training=False),  # (batch, outputs)
}


def run_by_length(model, encoded, output: str, batch_size: int, verbose=0) -> tf.Tensor:
    """`output` ("pooled" or "logits") of `model` for every example of `encoded`, in input order.

    Unlike `keras.Model.predict` it keeps no per-call state, so one loaded model can serve several
    threads at once.
    """
    order, batches = by_length(encoded.lengths(), batch_size)
    forward = _traced(model, output)
    progress = keras.utils.Progbar(len(batches), verbose=progress_verbosity(verbose)) if verbose else None
    pieces = []
    for index in batches:
        pieces.append(forward(model._encoder_features(encoded.pad_now(index))))
        if progress:
            progress.add(1)
    rows = tf.concat(pieces, axis=0)  # length order
    return tf.scatter_nd(order[:, None], rows, tf.shape(rows))  # input order


def _traced(model, output: str):
    """The model's traced function for `output`, built once per model and kept out of Keras'
    tracking. One trace serves every batch shape: tracing the encoder costs about as much as
    running it over a few hundred texts."""
    attribute = f"_{output}_fn_{len(model.input_names_)}"  # a pair model feeds one feature more
    if attribute not in model.__dict__:
        batch = {name: tf.TensorSpec((None, None), tf.int32, name=name) for name in model.input_names_}
        function = tf.function(lambda features: OUTPUTS[output](model, features), input_signature=[batch],
                               autograph=False)
        object.__setattr__(model, attribute, function)
    return model.__dict__[attribute]
