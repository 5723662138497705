"""The weights of a trained `TextClassifier` as plain NumPy arrays, in the layout the ONNX graph of
`kerastl.serving.onnx_export` takes, read from either family:

- Keras 3: a KerasHub `BertBackbone` or `DistilBertBackbone` (post-norm `TransformerEncoder`
  blocks of Keras' `MultiHeadAttention`, `EinsumDense` projections);
- Keras 2: a Hugging Face TF `TFBertModel` or `TFDistilBertModel`, read by variable name.

BERT's token-type embedding is folded into the position embedding (a single text is segment 0
everywhere, as kerastl feeds it), so both families give the same arrays: word and position
embeddings, the embedding layer norm, and per block the query, key and value projections as one
(hidden, 3 * hidden) matrix, the attention output, the two layer norms and the feed-forward
matrices; then the head's dense layer. Any other encoder is refused with a message naming the
families this export writes.
"""

import re
from dataclasses import dataclass, field

import numpy as np

SUPPORTED = "BERT-family encoders (BERT, MiniLM, DistilBERT: KerasHub BertBackbone/DistilBertBackbone " \
            "under Keras 3, transformers' TFBertModel/TFDistilBertModel under Keras 2)"


@dataclass
class Block:
    qkv_kernel: np.ndarray  # (hidden, 3 * hidden): query, key, value, each head-major
    qkv_bias: np.ndarray  # (3 * hidden,)
    output_kernel: np.ndarray  # (hidden, hidden)
    output_bias: np.ndarray
    attention_norm: tuple  # (gamma, beta)
    intermediate_kernel: np.ndarray  # (hidden, intermediate)
    intermediate_bias: np.ndarray
    feedforward_kernel: np.ndarray  # (intermediate, hidden)
    feedforward_bias: np.ndarray
    feedforward_norm: tuple


@dataclass
class EncoderWeights:
    family: str  # "bert" or "distilbert"
    num_heads: int
    hidden: int
    epsilon: float
    approximate_gelu: bool  # the tanh approximation (FastGelu) rather than the exact GELU (BiasGelu)
    word_embeddings: np.ndarray  # (vocabulary, hidden)
    position_embeddings: np.ndarray  # (positions, hidden), segment 0's embedding added
    embedding_norm: tuple
    cls_index: int = 0
    blocks: list = field(default_factory=list)
    head_kernel: np.ndarray = None  # (hidden, num_labels)
    head_bias: np.ndarray = None


def _np(variable) -> np.ndarray:
    return np.asarray(variable.numpy() if hasattr(variable, "numpy") else variable, dtype=np.float32)


def _qkv(query, key, value):
    """Three (kernel, bias) pairs -> the (hidden, 3 * hidden) kernel and (3 * hidden,) bias."""
    kernels = [k.reshape(k.shape[0], -1) for k, _ in (query, key, value)]
    biases = [b.reshape(-1) for _, b in (query, key, value)]
    return np.concatenate(kernels, axis=1), np.concatenate(biases)


def read_weights(model) -> EncoderWeights:
    """The classifier's encoder and head weights, float32 NumPy arrays (see the module docstring)."""
    encoder = model.encoder
    weights = {"kerashub": _keras3_weights, "hf_tf": _keras2_weights}[model.encoder_family](encoder)  # by family
    head = model.head.logits
    weights.head_kernel, weights.head_bias = _np(head.kernel), _np(head.bias)
    return weights


def _keras3_weights(encoder) -> EncoderWeights:
    import keras_hub

    backbone = encoder.layer
    models = keras_hub.models
    if isinstance(backbone, models.BertBackbone):
        family = "bert"
        word = _np(backbone.token_embedding.embeddings)
        positions = _np(backbone.position_embedding.position_embeddings)
        positions = positions + _np(backbone.segment_embedding.embeddings)[0]
    elif isinstance(backbone, models.DistilBertBackbone):
        family = "distilbert"
        word = _np(backbone.embeddings.token_embedding.embeddings)
        positions = _np(backbone.embeddings.position_embedding.position_embeddings)
    else:
        raise NotImplementedError(f"export_onnx writes {SUPPORTED}; this model's encoder is "
                                  f"{type(backbone).__name__}")
    norm = backbone.embeddings_layer_norm
    blocks = [_keras3_block(block) for block in backbone.transformer_layers]
    first = backbone.transformer_layers[0]
    return EncoderWeights(
        family=family, num_heads=int(backbone.num_heads), hidden=int(backbone.hidden_dim),
        epsilon=float(first._self_attention_layer_norm.epsilon),
        approximate_gelu=_keras3_approximate(encoder, first),
        word_embeddings=word, position_embeddings=positions,
        embedding_norm=(_np(norm.gamma), _np(norm.beta)),
        cls_index=int(getattr(backbone, "cls_token_index", 0) or 0), blocks=blocks)


def _keras3_approximate(encoder, block) -> bool:
    """Whether the blocks' feed-forward activation is the tanh GELU (else the exact one)."""
    from kerastl.encoders import kerashub
    from kerastl.encoders.kerashub_kernels import gelu as exact_gelu

    if encoder.activation is not None:
        return kerashub.GELU_APPROXIMATE[encoder.activation]
    activation = block._feedforward_intermediate_dense.activation
    if activation is exact_gelu:
        return False
    name = getattr(activation, "__name__", str(activation))
    if "gelu" not in name:
        raise NotImplementedError(f"export_onnx writes GELU feed-forward layers; this encoder's is {name}")
    return "approx" in name  # KerasHub's gelu_approximate; keras.activations.gelu is the exact one


def _keras3_block(block) -> Block:
    if block.normalize_first:
        raise NotImplementedError(f"export_onnx writes post-norm {SUPPORTED}; this block normalizes first")
    attention = block._self_attention_layer

    def dense(layer):
        return _np(layer.kernel), _np(layer.bias)

    kernel, bias = _qkv(dense(attention._query_dense), dense(attention._key_dense), dense(attention._value_dense))
    output_kernel, output_bias = dense(attention._output_dense)
    hidden = output_bias.shape[-1]
    return Block(
        qkv_kernel=kernel, qkv_bias=bias,
        output_kernel=output_kernel.reshape(-1, hidden), output_bias=output_bias.reshape(-1),
        attention_norm=(_np(block._self_attention_layer_norm.gamma), _np(block._self_attention_layer_norm.beta)),
        intermediate_kernel=dense(block._feedforward_intermediate_dense)[0],
        intermediate_bias=dense(block._feedforward_intermediate_dense)[1],
        feedforward_kernel=dense(block._feedforward_output_dense)[0],
        feedforward_bias=dense(block._feedforward_output_dense)[1],
        feedforward_norm=(_np(block._feedforward_layer_norm.gamma), _np(block._feedforward_layer_norm.beta)))


# Keras 2: transformers' TF variable names, below the model's own prefix, per family:
# (embeddings, block prefix, {part: name inside a block}).
_HF_NAMES = {
    "bert": ("bert/embeddings/", "bert/encoder/layer_._{}/", {
        "query": "attention/self/query/", "key": "attention/self/key/", "value": "attention/self/value/",
        "output": "attention/output/dense/", "attention_norm": "attention/output/LayerNorm/",
        "intermediate": "intermediate/dense/", "feedforward": "output/dense/",
        "feedforward_norm": "output/LayerNorm/"}),
    "distilbert": ("distilbert/embeddings/", "distilbert/transformer/layer_._{}/", {
        "query": "attention/q_lin/", "key": "attention/k_lin/", "value": "attention/v_lin/",
        "output": "attention/out_lin/", "attention_norm": "sa_layer_norm/",
        "intermediate": "ffn/lin1/", "feedforward": "ffn/lin2/", "feedforward_norm": "output_layer_norm/"}),
}


def _keras2_weights(encoder) -> EncoderWeights:
    layer = encoder.layer
    config = layer.config
    family = config.model_type
    if family not in _HF_NAMES:
        raise NotImplementedError(f"export_onnx writes {SUPPORTED}; this model's encoder is {type(layer).__name__}")
    embeddings, block_prefix, parts = _HF_NAMES[family]
    values = {}
    for variable in layer.weights:  # "tf_bert_model/bert/encoder/layer_._0/.../kernel:0" -> "bert/encoder/..."
        name = re.sub(r":\d+$", "", variable.name)
        start = name.find(f"{family}/")
        values[name[start:] if start >= 0 else name] = _np(variable)

    def get(name):
        if name not in values:
            raise NotImplementedError(f"export_onnx cannot find the weight {name} in {type(layer).__name__}")
        return values[name]

    def dense(prefix):
        return get(prefix + "kernel"), get(prefix + "bias")

    def norm(prefix):
        return get(prefix + "gamma"), get(prefix + "beta")

    blocks = []
    for index in range(config.num_hidden_layers if family == "bert" else config.n_layers):
        prefix = block_prefix.format(index)
        kernel, bias = _qkv(*(dense(prefix + parts[p]) for p in ("query", "key", "value")))
        (output_kernel, output_bias), (inner_kernel, inner_bias), (outer_kernel, outer_bias) = (
            dense(prefix + parts[p]) for p in ("output", "intermediate", "feedforward"))
        blocks.append(Block(kernel, bias, output_kernel, output_bias, norm(prefix + parts["attention_norm"]),
                            inner_kernel, inner_bias, outer_kernel, outer_bias,
                            norm(prefix + parts["feedforward_norm"])))
    positions = get(embeddings + "position_embeddings/embeddings")
    if family == "bert":
        positions = positions + get(embeddings + "token_type_embeddings/embeddings")[0]
        activation, heads, hidden = config.hidden_act, config.num_attention_heads, config.hidden_size
        epsilon = config.layer_norm_eps
    else:
        activation, heads, hidden, epsilon = config.activation, config.n_heads, config.dim, 1e-12
    if activation not in ("gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast"):
        raise NotImplementedError(f"export_onnx writes GELU feed-forward layers; this encoder's is {activation}")
    return EncoderWeights(
        family=family, num_heads=int(heads), hidden=int(hidden), epsilon=float(epsilon),
        approximate_gelu=activation != "gelu", word_embeddings=get(embeddings + "word_embeddings/weight"),
        position_embeddings=positions, embedding_norm=norm(embeddings + "LayerNorm/"), blocks=blocks)
