"""Encoder families, keyed by the checkpoint.

A family is one module holding an `Encoder` subclass and one module that loads its checkpoints
(`load_backbone(source, tokenizer=)`). The family of a saved model is the one its config records
(`"encoder_family"`), or, for files written before it was recorded, the one whose config marker the
encoder's config carries. The Keras kerastl runs on decides only which families are available: a
checkpoint of a family that needs the other Keras is refused, naming the fix.

A new family is a new module and one `Family(...)` line in `FAMILIES`.
"""

import dataclasses
import importlib
from typing import Optional

from kerastl._keras import KERAS_ENV, KERAS_VERSION, runs_keras
from kerastl.errors import ModelFileError


@dataclasses.dataclass(frozen=True)
class Family:
    """One encoder family.

    Attributes:
        name: the name saved models record (`"kerashub"`, `"hf_tf"`).
        keras_version: the Keras the family's layers belong to (2 or 3).
        encoder: `"module:Class"` of its `kerastl.encoders.Encoder` subclass.
        loading: the module whose `load_backbone(source, tokenizer=)` loads its checkpoints.
        config_marker: the key of `Encoder.config_dict()` output that only this family writes.
        description: how messages name it.
    """

    name: str
    keras_version: int
    encoder: str
    loading: str
    config_marker: str
    description: str

    def encoder_class(self):
        module, name = self.encoder.split(":")
        return getattr(importlib.import_module(module), name)

    def loading_module(self):
        return importlib.import_module(self.loading)

    @property
    def available(self) -> bool:
        return runs_keras(self.keras_version)


FAMILIES = {
    family.name: family
    for family in (
        Family("kerashub", 3, "kerastl.encoders.kerashub:KerasHubEncoder", "kerastl.encoders.kerashub_loading",
               "class_name", "a KerasHub backbone"),
        Family("hf_tf", 2, "kerastl.encoders.hf_tf:HFTFEncoder", "kerastl.encoders.hf_tf_loading",
               "model_type", "a transformers TF encoder"),
    )
}


def available_families() -> list:
    """The families the selected Keras runs, in registry order."""
    return [family for family in FAMILIES.values() if family.available]


def default_family() -> Family:
    """The family that loads hub names, folders and presets under the selected Keras."""
    return available_families()[0]


def family_of_config(config: dict, recorded: Optional[str] = None) -> Family:
    """The family of an encoder config (`Encoder.config_dict()`), or of the name a saved model
    recorded; a ModelFileError when it is unknown or needs the other Keras."""
    if recorded is not None:
        if recorded not in FAMILIES:
            raise ModelFileError(
                f"this model was saved with the encoder family {recorded!r}, which this kerastl does not "
                f"know (it knows {sorted(FAMILIES)}): upgrade kerastl"
            )
        family = FAMILIES[recorded]
    else:
        family = next((f for f in FAMILIES.values() if f.config_marker in config), default_family())
    if not family.available:
        raise ModelFileError(
            f"this model was saved under Keras {family.keras_version} ({family.description}), and this "
            f"program runs kerastl on Keras {KERAS_VERSION}: load it with {KERAS_ENV}={family.keras_version}, "
            f"or serve its exported SavedModel (kerastl export), which needs neither"
        )
    return family


def family_of_encoder(encoder) -> Family:
    """The family whose `Encoder` class `encoder` is an instance of."""
    for family in FAMILIES.values():
        if family.available and isinstance(encoder, family.encoder_class()):
            return family
    raise TypeError(f"{type(encoder).__name__} is no encoder of a registered family {sorted(FAMILIES)}")


def wrap(layer):
    """The `Encoder` of a Keras encoder layer (an `Encoder` is returned as it is).

    Example:
    >>> encoder = wrap(model.backbone)
    >>> encoder.hidden_dim, len(encoder.transformer_layers), encoder.input_names
    (32, 2, ('input_ids', 'attention_mask'))
    """
    from kerastl.encoders.base import Encoder

    if isinstance(layer, Encoder):
        return layer
    errors = []
    for family in available_families():
        try:
            return family.encoder_class()(layer)
        except TypeError as err:
            errors.append(str(err))
    raise TypeError("; ".join(errors))


def from_config_dict(config: dict, family: Optional[str] = None):
    """A randomly initialised encoder from `Encoder.config_dict()` (the weights are loaded after)."""
    return family_of_config(config, family).encoder_class().from_config_dict(config)


def with_precision(config: dict, policy: str) -> dict:
    """`Encoder.config_dict()` output that rebuilds the encoder under the precision `policy`.

    A KerasHub backbone's config names its policy, which is replaced; a transformers encoder
    takes the global policy at construction, so build it inside `precision_scope(policy)`.
    """
    if "class_name" not in config:
        return config
    return {**config, "config": {**config["config"], "dtype": policy}}


def load_backbone(source=None, *, tokenizer=None):
    """Load a headless encoder and its tokenizer with the family the selected Keras runs.

    Args:
        source: a Hugging Face hub name (`"distilbert-base-uncased"`, fetched once), a local
            Hugging Face folder, an offline preset name (`"all-minilm-l6-v2"`), or a config for
            a randomly initialised encoder (a transformers `DistilBertConfig`, `BertConfig`, ...;
            under Keras 3 also a `keras_hub.models.Backbone` object or a KerasHub preset name).
            Default: `kerastl.config.DEFAULT_BACKBONE`.
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
    from kerastl.config import DEFAULT_BACKBONE

    source = DEFAULT_BACKBONE if source is None else source
    return default_family().loading_module().load_backbone(source, tokenizer=tokenizer)
