"""One loaded model answers many callers at once with exactly the answers it gives one caller."""

import concurrent.futures
import time

import numpy as np

import kerastl
from kerastl.evaluation import predict
from tests.conftest import synthetic_corpus


def test_eight_threads_get_the_single_caller_answers(make_classifier, tmp_path):
    path = make_classifier(labels=("neg", "pos", "meh")).save_pretrained(tmp_path / "m")
    model = kerastl.TextClassifier.from_pretrained(path)
    texts, _ = synthetic_corpus(40, seed=9)
    requests = [texts[i % 40: i % 40 + 1 + i % 5] for i in range(2000)]  # 1 to 5 texts each
    expected = {}
    for request in requests[:40]:
        expected[tuple(request)] = predict(model, request).logits
    deadline = time.monotonic() + 240

    def serve(request):
        assert time.monotonic() < deadline, "the load test ran out of time"
        return tuple(request), predict(model, request).logits

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(serve, requests))
    assert len(answers) == 2000
    for request, logits in answers:
        np.testing.assert_array_equal(logits, expected[request])
