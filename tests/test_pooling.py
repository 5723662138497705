"""What the head reads: the [CLS] state or the mean of the real tokens' states, and where "auto"
finds the checkpoint's own choice; and phase 2 ending at its best validation epoch."""

import json

import numpy as np
import pytest
import tensorflow as tf

import kerastl
from kerastl.training.callbacks import BestEpoch
from kerastl.training.resume import TrainingState
from tests.helpers import tiny_distilbert_config, write_checkpoint_folder


def test_mean_pooling_averages_the_real_tokens_only(make_classifier):
    model = make_classifier(pooling="mean")
    texts = ["good", "the movie was very dull and the plot was bad"]
    together = model.pooled_features(model.encode(texts), batch_size=2).numpy()  # "good" padded to the long text
    alone = model.pooled_features(model.encode(texts[:1])).numpy()
    np.testing.assert_allclose(together[:1], alone, rtol=1e-5, atol=1e-6)
    batch = next(iter(model.encode(texts).dataset(2)))
    hidden = model.encoder.hidden_states(batch).numpy()  # (2, seq, dim)
    mask = batch["attention_mask"].numpy()[:, :, None]
    np.testing.assert_allclose(together, (hidden * mask).sum(1) / mask.sum(1), rtol=1e-5, atol=1e-6)
    assert not np.allclose(together, hidden[:, 0], atol=1e-3)  # not the [CLS] state


def test_pooling_is_checked_and_travels_with_the_model(make_classifier, tmp_path):
    with pytest.raises(ValueError, match="pooling must be one of"):
        make_classifier(pooling="max")
    model = make_classifier(pooling="mean")
    loaded = kerastl.TextClassifier.from_pretrained(model.save_pretrained(tmp_path / "m"))
    assert loaded.pooling == "mean"
    texts = ["a good film", "so dull"]
    np.testing.assert_allclose(loaded.predict(texts, verbose=0), model.predict(texts, verbose=0), atol=1e-6)


@pytest.mark.parametrize("modes, expected", [
    ({"pooling_mode_mean_tokens": True, "pooling_mode_cls_token": False}, "mean"),
    ({"pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True}, "cls"),
    (None, "cls"),
])
def test_auto_pooling_reads_the_sentence_transformers_config(tmp_path, distilbert_tokenizer, modes, expected):
    folder = write_checkpoint_folder(tmp_path / "encoder", tiny_distilbert_config(), distilbert_tokenizer)
    if modes is not None:
        (folder / "1_Pooling").mkdir()
        (folder / "1_Pooling" / "config.json").write_text(json.dumps({"word_embedding_dimension": 32, **modes}))
    assert kerastl.TextClassifier.from_backbone(folder, ["neg", "pos"], max_length=24).pooling == expected


def _scores(epoch, accuracy, loss):
    return epoch, {"val_accuracy": accuracy, "val_loss": loss, "loss": 1.0}


@pytest.mark.parametrize("store", [False, True])
def test_best_epoch_restores_the_highest_validation_accuracy_then_lowest_loss(make_classifier, tmp_path, store):
    model = make_classifier()
    state = TrainingState(tmp_path / "state", {"run": 1}) if store else None
    best = BestEpoch(state.best_epoch("fine_tune") if state else None)
    best.set_model(model)
    kernel = model.head.logits.kernel
    values = {}
    for epoch, logs in [_scores(0, 0.80, 0.50), _scores(1, 0.90, 0.40), _scores(2, 0.90, 0.30), _scores(3, 0.85, 0.20)]:
        kernel.assign(tf.fill(kernel.shape, float(epoch)))
        values[epoch] = kernel.numpy().copy()
        best.on_epoch_end(epoch, logs)
    if store:  # a rerun after a crash knows the best epoch from the state folder alone
        best = BestEpoch(state.best_epoch("fine_tune"))
        best.set_model(model)
        best.on_epoch_end(3, _scores(3, 0.85, 0.20)[1])
    record = best.restore()
    assert record["epoch"] == 2 and record["val_accuracy"] == 0.90  # the tie goes to the lower loss
    np.testing.assert_array_equal(kernel.numpy(), values[2])


def test_best_epoch_leaves_a_model_whose_last_epoch_was_best(make_classifier):
    model = make_classifier()
    best = BestEpoch()
    best.set_model(model)
    best.on_epoch_end(0, _scores(0, 0.7, 0.6)[1])
    best.on_epoch_end(1, _scores(1, 0.8, 0.5)[1])
    assert best.restore() is None


def test_a_best_epoch_of_another_model_is_refused_by_name(make_classifier, tmp_path):
    store = TrainingState(tmp_path / "state", {"run": 1}).best_epoch("fine_tune")
    distilbert = make_classifier()
    store.save(distilbert, distilbert.get_weights(), {"epoch": 0, "val_accuracy": 0.5, "val_loss": 0.7})
    assert store.record() == {"epoch": 0, "val_accuracy": 0.5, "val_loss": 0.7}
    bert = make_classifier("bert")
    before = bert.get_weights()
    with pytest.raises(kerastl.errors.TrainingError, match="holds the best epoch of a different model"):
        store.load(bert)
    assert all(np.array_equal(a, b) for a, b in zip(before, bert.get_weights()))  # nothing loaded


def test_a_best_epoch_saved_by_an_earlier_kerastl_still_loads(make_classifier, tmp_path):
    store = TrainingState(tmp_path / "state", {"run": 1}).best_epoch("fine_tune")
    model = make_classifier()
    model.save_weights(str(store.earlier_weights))  # what kerastl 0.3.0 kept, with scores only
    store.scores.write_text(json.dumps({"epoch": 0, "val_accuracy": 0.5, "val_loss": 0.7}))
    saved = model.get_weights()
    model.head.logits.kernel.assign(tf.zeros_like(model.head.logits.kernel))
    store.load(model)
    assert all(np.array_equal(a, b) for a, b in zip(saved, model.get_weights()))
