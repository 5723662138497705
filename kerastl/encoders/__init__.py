"""Headless encoders: one contract (`Encoder`), one module per family, a registry keyed by the
checkpoint.

The rest of kerastl asks an encoder for what it needs through `Encoder` (`base`), a small face in
the spirit of KerasHub's backbone contract (`hidden_dim`, `transformer_layers`, `cls_token_index`),
and never imports transformers or reads an encoder's internals. The families (`registry`):

- `kerashub` (Keras 3, `KERASTL_KERAS=3`): KerasHub backbones (`BertBackbone`,
  `DistilBertBackbone`, `RobertaBackbone`, ...), loaded by `kerashub_loading`;
- `hf_tf` (Keras 2, `KERASTL_KERAS=2`): Hugging Face transformers' TF encoders
  (`TFDistilBertModel`, `TFBertModel`, ...), loaded by `hf_tf_loading`.

Each loads from a hub name, a local Hugging Face folder, an offline preset or a config; both
tokenize with the checkpoint's Hugging Face fast tokenizer (`kerastl.preprocessing`).
"""

from kerastl.encoders.base import Encoder
from kerastl.encoders.registry import (
    FAMILIES,
    Family,
    available_families,
    family_of_config,
    family_of_encoder,
    from_config_dict,
    load_backbone,
    with_precision,
    wrap,
)
from kerastl.encoders.sources import ENCODER_NAME, PRESETS, Backbone, checkpoint_pooling, preset_path
from kerastl.preprocessing.tokenizers import load_tokenizer

__all__ = [
    "ENCODER_NAME", "FAMILIES", "PRESETS", "Backbone", "Encoder", "Family", "available_families",
    "checkpoint_pooling", "family_of_config", "family_of_encoder", "from_config_dict", "load_backbone",
    "load_tokenizer", "preset_path", "with_precision", "wrap",
]
