"""Sentence pairs on the command line: `predict TEXT --text-pair TEXT2` for one pair, and
`predict --file F` on a table whose header has a `text_pair` column (`train`, `evaluate` and the
other commands read that column by header, or `--names text,text_pair,label`)."""

import json

from kerastl.config import TEXT_PAIR_COLUMN


def add_predict_arguments(parser) -> None:
    """`--text-pair` of `kerastl predict`."""
    parser.add_argument("--text-pair", metavar="TEXT2",
                        help="the second text of one sentence pair (with one TEXT), for a model trained on pairs; "
                             f"for many pairs give --file F with '{TEXT_PAIR_COLUMN}' in its header")


def predict_pairs(args):
    """`(line numbers or None, TextExamples)` of the pairs `predict` was given, or None for texts."""
    from kerastl.data.text_examples import TextExamples, as_examples

    if getattr(args, "text_pair", None) is not None:
        if len(args.texts) != 1 or args.file is not None:
            raise ValueError("--text-pair gives the second text of one pair: give exactly one TEXT with it "
                             "(for many pairs, --file F with 'text' and 'text_pair' columns)")
        return None, TextExamples(list(args.texts), source="predict TEXT --text-pair", text_pairs=[args.text_pair])
    if args.file is None or TEXT_PAIR_COLUMN not in _header(args.file):
        return None
    examples = as_examples(args.file, labelled=False, what=f"--file {args.file}")
    return list(range(2, len(examples) + 2)), examples


def emit_pairs(args, paired, predictions, emit) -> int:
    """Print the prediction of every pair: JSON Lines for a file (with its line) or with --json, else
    'label<TAB>probability<TAB>text<TAB>text_pair' ('score<TAB>...' for a regressor)."""
    numbers, examples = paired
    for i, record in enumerate(predictions(args, examples).records()):
        texts = {"text": examples.texts[i], "text_pair": examples.text_pairs[i]}
        if numbers is not None or args.json:
            emit(args, json.dumps({**({"line": numbers[i]} if numbers is not None else {}), **texts, **record}))
        elif "score" in record:
            emit(args, f"{record['score']:.4f}\t{texts['text']}\t{texts['text_pair']}")
        else:
            top = record["probabilities"][record["label"]]
            emit(args, f"{record['label']}\t{top:.3f}\t{texts['text']}\t{texts['text_pair']}")
    return 0


def _header(path) -> list:
    """The column names of a delimited file's first line (tab or comma), or [] where there is none."""
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as f:
            first = f.readline().strip()
    except OSError:
        return []
    return [name.strip().strip('"') for name in first.replace("\t", ",").split(",")]
