"""`import kerastl` is cheap, and every public name and submodule is reachable from it."""

import subprocess
import sys

import kerastl


def test_import_loads_no_tensorflow_and_reaches_names_and_submodules_on_use():
    script = (
        "import sys, kerastl\n"
        "assert 'tensorflow' not in sys.modules, 'import kerastl loaded TensorFlow'\n"
        "assert kerastl.analysis.evaluation.plot_probabilities is not None\n"  # a submodule, not a public name
        "assert kerastl.TextClassifier.__module__ == 'kerastl.tasks.text_classifier'\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]


def test_every_public_name_resolves_and_an_unknown_one_is_an_attribute_error():
    for name in kerastl.__all__:
        assert getattr(kerastl, name) is not None, name
    try:
        kerastl.no_such_name
    except AttributeError as err:
        assert "no_such_name" in str(err)
    else:
        raise AssertionError("kerastl.no_such_name did not raise AttributeError")
