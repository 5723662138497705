"""Sentence pairs on the command line, every command that reads a data file: `explore` and `baseline`
on a file with a `text_pair` column (classification and `--task regression`), `train` on a headerless
file named by `--names`, and the bad pair input each refuses before writing anything."""

import json

import pandas as pd

import kerastl
from kerastl.analysis.baseline import feature_baseline
from kerastl.cli.commands import main
from tests.test_pairs import FAST, A, B, Y, _write

SCORES = ["4.5", "1.0", "4.0", "0.5", "4.2", "1.5"]


def _pair_file(path, target="label", values=Y, times=2):
    return _write(path, [["text", "text_pair", target], *zip(A * times, B * times, values * times)])


def test_explore_reads_a_pair_file_and_counts_the_packed_pair(encoder_folder, distilbert_tokenizer, tmp_path, capsys):
    for task, target, values in ((None, "label", Y), ("regression", "score", SCORES)):
        data = _pair_file(tmp_path / f"{target}.tsv", target, values)
        out = tmp_path / f"explore-{target}"
        task_args = ["--task", task] if task else []
        assert main(["explore", "--data", str(data), "--model", str(encoder_folder), "--max-length", "24",
                     "--output", str(out), "--json", *task_args]) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["n"] == 12 and summary["text_pairs"] is True
        packed = [len(distilbert_tokenizer(a, b)["input_ids"]) for a, b in zip(A, B)]
        assert summary["tokens_per_text"]["max"] == max(packed), task
        assert (out / ("target_distribution.png" if task else "class_counts.png")).is_file()


def test_baseline_reads_a_pair_file_as_pairs(encoder_folder, tmp_path, capsys):
    for task, target, values in ((None, "label", Y), ("regression", "score", SCORES)):
        data = _pair_file(tmp_path / f"{target}.tsv", target, values)
        firsts = tmp_path / f"{target}-firsts.tsv"  # the same file without its second texts
        pd.read_csv(data, sep="\t", dtype=str).drop(columns="text_pair").to_csv(firsts, sep="\t", index=False)
        results = []
        for path in (data, firsts):
            task_args = ["--task", task] if task else []
            assert main(["baseline", "--model", str(encoder_folder), "--train", str(path), "--validation", str(path),
                         "--max-length", "24", "--batch-size", "4", "--json", *task_args]) == 0
            results.append(json.loads(capsys.readouterr().out.strip().splitlines()[-1]))
        labels = [float(v) for v in values] if task else values
        pairs = kerastl.TextExamples(A * 2, labels * 2, "pairs", text_pairs=B * 2)
        expected = feature_baseline(str(encoder_folder), pairs, pairs, max_length=24, batch_size=4, task=task)
        assert results[0] == json.loads(json.dumps(expected.scores())), task  # the packed pairs' features
        if task == "regression":  # ridge's scores tell the features apart
            assert results[0] != results[1], "the pair file's baseline equals the first texts' alone"


def test_train_reads_headerless_pairs_named_by_names_with_a_semicolon(encoder_folder, tmp_path):
    data = tmp_path / "pairs.txt"
    data.write_text("".join(f"{a};{b};{y}\n" for a, b, y in zip(A * 2, B * 2, Y * 2)))
    out = tmp_path / "model"
    assert main(["train", "--model", str(encoder_folder), "--train", str(data), "--validation", str(data),
                 "--names", "text,text_pair,label", "--sep", ";", "--output", str(out), *FAST]) == 0
    model = kerastl.TextClassifier.from_pretrained(out)
    assert model.text_pair and model.label_names == ("neg", "pos")


# -- bad pair input ------------------------------------------------------------------------------


def test_a_pair_file_with_an_empty_second_text_is_refused_before_anything_is_written(encoder_folder, tmp_path,
                                                                                    capsys):
    rows = [["text", "text_pair", "label"], *zip(A, B, Y)]
    rows[4] = [A[3], "", Y[3]]  # line 5
    header = _write(tmp_path / "pairs.tsv", rows)
    headerless = tmp_path / "pairs.txt"
    headerless.write_text("".join(";".join(row) + "\n" for row in rows[1:]))  # the same row is line 4
    for data, line, names in ((header, 5, []), (headerless, 4, ["--names", "text,text_pair,label", "--sep", ";"])):
        out = tmp_path / f"model-{data.suffix[1:]}"
        assert main(["train", "--model", str(encoder_folder), "--train", str(data), "--output", str(out),
                     *names, *FAST]) != 0
        err = capsys.readouterr().err
        assert f"{data}, line {line}: no second text in the 'text_pair' column" in err, err
        assert "fill it or remove that row" in err and "Traceback" not in err
        assert not out.exists() and not (tmp_path / f".{out.name}.resume").exists()
