"""Load a headless encoder and its tokenizer from a hub name, a local folder, a preset or a config.

The public face of the loading each encoder family does (`kerastl.encoders`): under Keras 3 a
KerasHub backbone (`kerastl.encoders.kerashub_loading`), under Keras 2 (`KERASTL_KERAS=2`) a Hugging
Face transformers TF encoder (`kerastl.encoders.hf_tf_loading`). `load_backbone` returns the
encoder's Keras layer and its tokenizer, which `TextClassifier` wraps in a
`kerastl.encoders.Encoder`.
"""

from kerastl.config import DEFAULT_BACKBONE
from kerastl.encoders import load_backbone as _load_backbone
from kerastl.encoders.sources import ENCODER_NAME, PRESETS, Backbone, load_tokenizer, preset_path

__all__ = ["ENCODER_NAME", "PRESETS", "Backbone", "load_backbone", "load_tokenizer", "preset_path"]


def load_backbone(source=DEFAULT_BACKBONE, *, tokenizer=None) -> Backbone:
    """Load a headless encoder and its tokenizer, by the encoder family of the selected Keras.

    Args:
        source: a Hugging Face hub name (`"distilbert-base-uncased"`, fetched once), a local
            Hugging Face folder, an offline preset name (`"all-minilm-l6-v2"`), or a config for
            a randomly initialised encoder (a transformers `DistilBertConfig`, `BertConfig`, ...;
            under Keras 3 also a `keras_hub.models.Backbone` object or a KerasHub preset name).
        tokenizer: a Hugging Face tokenizer object or a folder holding one. Required with a
            config or backbone object; otherwise it replaces the tokenizer found beside the weights.

    Returns:
        `Backbone(encoder, tokenizer)`: the encoder's Keras layer, named "backbone", and its tokenizer.

    Example (a tiny random encoder):
    >>> from transformers import DistilBertConfig
    >>> config = DistilBertConfig(vocab_size=99, dim=32, n_layers=2, n_heads=4, hidden_dim=37)
    >>> encoder, tokenizer = load_backbone(config, tokenizer=tokenizer)
    >>> encoder.name
    'backbone'
    """
    return _load_backbone(source, tokenizer=tokenizer)
