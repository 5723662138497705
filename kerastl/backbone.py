"""Load a headless encoder and its tokenizer from a hub name, a local folder, a preset or a config.

The public face of the loading that `kerastl.encoders` does for each family (today Hugging Face
transformers' TF encoders, `kerastl.encoders.hf_tf_loading`): `load_backbone` returns the
encoder's Keras layer and its tokenizer, which `TextClassifier` wraps in a
`kerastl.encoders.Encoder`.
"""

from kerastl.encoders.hf_tf_loading import (  # noqa: F401 (the public names of loading)
    ENCODER_NAME,
    PRESETS,
    Backbone,
    load_backbone,
    load_tokenizer,
    preset_path,
)

__all__ = ["ENCODER_NAME", "PRESETS", "Backbone", "load_backbone", "load_tokenizer", "preset_path"]
