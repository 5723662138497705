"""One loaded model answers many callers at once with exactly the answers it gives one caller.

Load tests, 2 x 2,000 requests: slow.
"""

import concurrent.futures

import numpy as np
import pytest

import kerastl
from kerastl.analysis.evaluation import predict
from tests.helpers import synthetic_corpus

pytestmark = pytest.mark.slow

REQUESTS = 2000
THREADS = 8


def _requests(texts):
    """2,000 requests of 1 to 5 texts, 40 distinct ones, each asked 50 times (tuples: dict keys)."""
    return [tuple(texts[i % 40: i % 40 + 1 + i % 5]) for i in range(REQUESTS)]


def _serve_concurrently(answer, requests):
    def serve(request):
        return request, answer(request)

    with concurrent.futures.ThreadPoolExecutor(max_workers=THREADS) as pool:
        return list(pool.map(serve, requests))


def _check(answer, texts):
    requests = _requests(texts)
    expected = {request: answer(request) for request in set(requests)}  # one caller
    answers = _serve_concurrently(answer, requests)
    assert len(answers) == REQUESTS
    for request, result in answers:
        np.testing.assert_array_equal(result, expected[request])


def test_a_loaded_model_answers_eight_threads_as_it_answers_one(make_classifier, tmp_path):
    path = make_classifier(labels=("neg", "pos", "meh")).save_pretrained(tmp_path / "m")
    model = kerastl.TextClassifier.from_pretrained(path)
    _check(lambda request: predict(model, list(request)).logits, synthetic_corpus(40, seed=9)[0])


def test_an_exported_saved_model_answers_eight_threads_as_it_answers_one(make_classifier, tmp_path):
    version = kerastl.export_saved_model(make_classifier(labels=("neg", "pos", "meh")), tmp_path / "serving")
    served = kerastl.load_saved_model(version)
    assert served.has_text_signature
    _check(lambda request: served.probabilities(list(request)), synthetic_corpus(40, seed=9)[0])
