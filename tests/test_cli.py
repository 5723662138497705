import json
import subprocess
import sys

import pytest

from kerastl.cli import main

FAST = ["--head-epochs", "1", "--epochs", "1", "--batch-size", "8", "--max-length", "24"]


def test_train_evaluate_predict_round_trip(encoder_folder, csv_files, tmp_path, capsys):
    out = tmp_path / "model"
    status = main(["train", "--model", str(encoder_folder), "--train", str(csv_files["train"]),
                   "--validation", str(csv_files["validation"]), "--output", str(out), *FAST])
    assert status == 0
    trained = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(trained["history"]) == {"head", "fine_tune"}
    assert (out / "kerastl.json").is_file() and (out / "history.json").is_file()

    assert main(["evaluate", "--model", str(out), "--data", str(csv_files["validation"]), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(scores) >= {"accuracy", "macro_f1", "weighted_f1", "loss", "n"}
    assert scores["n"] == 16 and scores == pytest.approx(trained["validation"])

    assert main(["predict", "--model", str(out), "--json", "a good film", "awful"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [r["text"] for r in records] == ["a good film", "awful"]
    for record in records:
        assert set(record["probabilities"]) == {"neg", "pos"}
        assert sum(record["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
        assert record["label"] == max(record["probabilities"], key=record["probabilities"].get)


def test_train_on_headerless_text_with_separator(encoder_folder, csv_files, tmp_path):
    out = tmp_path / "model"
    assert main(["train", "--model", str(encoder_folder), "--train", str(csv_files["txt"]), "--sep", ";",
                 "--names", "text,label", "--output", str(out), *FAST]) == 0
    assert (out / "model.weights.h5").is_file()


@pytest.mark.parametrize("case, match", [
    ("missing_column", "no column 'text'; the columns are ['review', 'label']"),
    ("empty_file", "is empty"),
    ("unknown_validation_label", "['meh'] are not among the model's labels ['neg', 'pos']"),
    ("single_label", "at least two labels"),
    ("output_taken", "is not empty: choose a new folder or add --overwrite"),
    ("max_length", "max_length must be between 2 and the encoder's position limit 64"),
    ("missing_file", "no data file at"),
])
def test_bad_input_gives_one_clear_error_and_writes_nothing(
    encoder_folder, csv_files, tmp_path, capsys, case, match
):
    train, validation, out = csv_files["train"], csv_files["validation"], tmp_path / "out"
    extra = []
    if case == "missing_column":
        train.write_text("review,label\ngood,pos\nbad,neg\n")
    elif case == "empty_file":
        train.write_text("")
    elif case == "unknown_validation_label":
        validation.write_text("text,label\ngood,pos\nso so,meh\n")
    elif case == "single_label":
        train.write_text("text,label\ngood,pos\ngreat,pos\n")
    elif case == "output_taken":
        out.mkdir()
        (out / "kerastl.json").write_text("{}")
    elif case == "max_length":
        extra = ["--max-length", "65"]
    elif case == "missing_file":
        train = tmp_path / "nope.csv"
    before = sorted(p.name for p in out.iterdir()) if out.exists() else None
    status = main(["train", "--model", str(encoder_folder), "--train", str(train), "--validation",
                   str(validation), "--output", str(out), *FAST, *extra])
    err = capsys.readouterr().err
    assert status == 2
    assert match in err and "Traceback" not in err
    assert (sorted(p.name for p in out.iterdir()) if out.exists() else None) == before


def test_evaluate_and_predict_need_a_saved_model(tmp_path, csv_files, capsys):
    assert main(["evaluate", "--model", str(tmp_path), "--data", str(csv_files["validation"])]) == 2
    assert "is not a saved kerastl model" in capsys.readouterr().err


def test_console_script_is_installed():
    result = subprocess.run([sys.executable, "-m", "kerastl", "train", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for option in ("--model", "--train", "--validation", "--output", "--sep", "--names", "--head-epochs",
                   "--head-learning-rate", "--learning-rate", "--seed", "--max-length", "--batch-size"):
        assert option in result.stdout
