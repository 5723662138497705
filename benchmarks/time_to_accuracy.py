"""The whole emotion run: kerastl's time to a trained model, and to the HF TF path's accuracy.

Reads two results this project's commands write, trains nothing:

- `make emotion`'s JSON (`kerastl train ... > runs/emotion.json`): the validation accuracy at the
  end of each epoch of both phases, and `elapsed_seconds`, the seconds since the command started
  at each epoch's end and once the model was saved;
- `make quality`'s JSON (runs/quality.json): the HF TF path on the same set (`hf_tf`: its
  validation accuracy after its last epoch, and its wall time less the scoring of the evaluation
  texts, which is its own start to trained model: process start, loading, tokenizing, `fit`).

and prints one JSON object: kerastl start to saved model, the first epoch whose validation
accuracy reached the HF path's final one and the seconds at its end, the HF path's own time, and
the ratios. Only a run of the same data set and machine should be compared (`--set` names it).

    python benchmarks/time_to_accuracy.py --kerastl runs/emotion.json --quality runs/quality.json
"""

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def first_reaching(history: dict, elapsed: dict, target: float):
    """(phase, 1-based epoch, seconds) of the first epoch whose validation accuracy is >= target."""
    for phase in ("head", "fine_tune"):
        accuracies = history.get(phase, {}).get("val_accuracy", [])
        seconds = elapsed.get(phase, [])
        if len(accuracies) != len(seconds):
            raise SystemExit(f"the kerastl run has {len(accuracies)} {phase} validation accuracies but "
                             f"{len(seconds)} epoch times: was it resumed? Use the JSON of one uninterrupted run.")
        for epoch, (accuracy, at) in enumerate(zip(accuracies, seconds), start=1):
            if accuracy >= target:
                return phase, epoch, at
    return None


def read_json(parser, path: Path, command: str) -> dict:
    """The last line of `path` as a JSON object, or one usage error naming the file and the fix."""
    try:
        lines = path.read_text().strip().splitlines()
        return json.loads(lines[-1]) if len(lines) == 1 else json.loads("\n".join(lines))
    except FileNotFoundError:
        parser.error(f"{path} does not exist: run `{command}` first, or name its JSON")
    except (IndexError, json.JSONDecodeError):
        parser.error(f"{path} holds no JSON object: did `{command}` fail? Run it again")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kerastl", type=Path, default=ROOT / "runs" / "emotion.json",
                        help="`kerastl train --validation ...`'s JSON output (default: runs/emotion.json)")
    parser.add_argument("--quality", type=Path, default=ROOT / "runs" / "quality.json",
                        help="`make quality`'s JSON (default: runs/quality.json)")
    parser.add_argument("--set", default="emotion", help="the data set of both runs (default: emotion)")
    args = parser.parse_args()

    run = read_json(parser, args.kerastl, "make emotion")
    if "elapsed_seconds" not in run or "validation" not in run:
        parser.error(f"{args.kerastl} has no elapsed_seconds or validation scores: it must be the JSON of "
                     "`kerastl train --validation FILE` from kerastl 0.5 or later")
    sets = read_json(parser, args.quality, "make quality").get("sets", {})
    entry = sets.get(args.set, {}).get("systems", {}).get("hf_tf")
    if not entry or "validation" not in entry:
        parser.error(f"{args.quality} has no hf_tf result with validation scores for the set {args.set!r}")
    if "runs" in entry:
        parser.error(f"{args.quality} was run with several seeds; give it a one-seed run")

    target = entry["validation"]["accuracy"]
    hf_seconds = round(entry["wall_seconds"] - entry["predict_seconds"], 1)
    kerastl_seconds = run["elapsed_seconds"]["saved"]
    reached = first_reaching(run["history"], run["elapsed_seconds"], target)
    report = {
        "set": args.set,
        "hf_tf": {"validation_accuracy": target, "seconds_to_trained_model": hf_seconds},
        "kerastl": {"validation_accuracy": run["validation"]["accuracy"],
                    "seconds_to_saved_model": kerastl_seconds,
                    "reached_hf_accuracy": None if reached is None else
                    {"phase": reached[0], "epoch": reached[1], "seconds": reached[2]}},
        "whole_run_speedup": round(hf_seconds / kerastl_seconds, 2),
        "speedup_to_hf_accuracy": None if reached is None else round(hf_seconds / reached[2], 2),
    }
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
