"""Keras' registry entries for kerastl's classes, from `import kerastl` on.

`keras.models.load_model("model.keras")` finds a class by the name it was registered under
(`"kerastl>TextClassifier"`); it never imports the module a file names (tf-keras would even look
for it under another name). `import kerastl` stays light, without TensorFlow, so its classes are
not defined yet when a user loads a file: each is registered as a stand-in whose `from_config`
imports the real class (which then registers itself in the stand-in's place) and builds it.

Keras need not be imported first. When it is not yet, the stand-ins are registered right after its
import, by a finder on `sys.meta_path` that steps aside once it has seen that import.
"""

import importlib
import importlib.abc
import importlib.util
import sys

from kerastl.config import selected_keras

# class name -> the module that defines and registers it (package "kerastl")
SERIALIZABLE = {
    "TextClassifier": "kerastl.tasks.text_classifier",
    "ClassificationHead": "kerastl.tasks.heads",
    "TextRegressor": "kerastl.tasks.text_regressor",
    "RegressionHead": "kerastl.tasks.heads",
    "TextMultiLabelClassifier": "kerastl.tasks.text_multi_label",
    "MultiLabelHead": "kerastl.tasks.heads",
    "AdamW": "kerastl.training.optimizers",
}


def install() -> None:
    """Register the stand-ins in the selected Keras now, or right after it is imported."""
    name = "keras" if selected_keras() == 3 else "tf_keras"
    module = sys.modules.get(name)
    if module is not None and hasattr(module, "saving"):
        _register(module)
    elif not any(isinstance(finder, _AfterImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport(name, _register))


def _register(keras) -> None:
    registry = keras.saving.get_custom_objects()
    for class_name, module in SERIALIZABLE.items():
        registry.setdefault(f"kerastl>{class_name}", _stand_in(class_name, module))


def _stand_in(class_name: str, module: str) -> type:
    def from_config(cls, config, *args, **kwargs):
        real = getattr(importlib.import_module(module), class_name)
        return real.from_config(config, *args, **kwargs)

    return type(class_name, (), {
        "__doc__": f"Stands in for {module}.{class_name} until that module is imported.",
        "from_config": classmethod(from_config),
    })


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs `callback(module)` once the module `name` has been imported, then leaves."""

    def __init__(self, name: str, callback):
        self.name, self.callback, self._finding = name, callback, False

    def find_spec(self, fullname, path, target=None):
        if fullname != self.name or self._finding:
            return None
        self._finding = True
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self._finding = False
        if spec is not None and spec.loader is not None:
            spec.loader = _ThenCall(spec.loader, self._done)
        return spec

    def _done(self, module) -> None:
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        self.callback(module)


class _ThenCall(importlib.abc.Loader):
    def __init__(self, loader, callback):
        self.loader, self.callback = loader, callback

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        self.callback(module)
