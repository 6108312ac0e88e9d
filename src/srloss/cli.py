"""``srloss prepare|train|evaluate|aggregate``: what the workflow's rules call.

Each job's definition arrives as one JSON spec (built by ``srloss.config.Study``), so a rule
needs no logic of its own and the same command can be run by hand.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys


def _json(text: str) -> dict:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"not valid JSON: {e}") from e


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="srloss", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("prepare", help="degrade a dataset's HR images and write train/val/test shards")
    p.add_argument("--spec", type=_json, required=True, help="the dataset's definition (JSON)")
    p.add_argument("--scale", type=int, required=True)
    for split in ("train", "val", "test"):
        p.add_argument(f"--{split}", required=True, help=f"output shard for the {split} split")

    t = sub.add_parser("train", help="train one run")
    t.add_argument("--spec", type=_json, required=True, help="the run's definition (JSON)")
    t.add_argument("--train-shard", required=True)
    t.add_argument("--val-shard", required=True)
    t.add_argument("--model", required=True, help="output: final state dict (.pt)")
    t.add_argument("--history", required=True, help="output: per-step history (.csv)")
    t.add_argument("--record", required=True, help="output: run record (.json)")
    t.add_argument("--threads", type=int, default=1)

    e = sub.add_parser("evaluate", help="evaluate one run on a test shard")
    e.add_argument("--spec", type=_json, required=True)
    e.add_argument("--checkpoint", default=None, help="trained state dict (omit for untrained baselines)")
    e.add_argument("--test-shard", required=True)
    e.add_argument("--metrics", required=True, help="output: per-image metrics (.csv)")
    e.add_argument("--record", required=True, help="output: evaluation record (.json)")
    e.add_argument("--threads", type=int, default=1)
    e.add_argument("--evaluation", type=_json, default=None, help="evaluation settings (JSON, Study.evaluation_spec); default: the schema's defaults, FFR off")
    e.add_argument("--crops", default=None, help="output: fixed crops for comparison grids (.npz)")

    a = sub.add_parser("aggregate", help="summary tables and figures from per-image metrics")
    a.add_argument("--config", type=_json, required=True, help="the validated study config (JSON), recorded with the results")
    a.add_argument("--metrics", nargs="+", required=True)
    a.add_argument("--per-image", required=True)
    a.add_argument("--summary-csv", required=True)
    a.add_argument("--summary-md", required=True)
    a.add_argument("--figure", required=True)
    a.add_argument("--provenance", required=True)
    a.add_argument("--root", default=None, help="results/<study>: where the per-model tables, statistics and figures go (see srloss.report)")

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)

    if args.command == "prepare":
        from srloss.data.prepare import prepare

        prepare(args.spec, args.scale, {"train": args.train, "val": args.val, "test": args.test})
    elif args.command == "train":
        from srloss.train import train

        record = train(args.spec, args.train_shard, args.val_shard, args.model, args.history, args.record, args.threads)
        logging.info("run finished: %s", record["status"])
    elif args.command == "evaluate":
        from srloss.evaluate import evaluate

        evaluate(args.spec, args.checkpoint, args.test_shard, args.metrics, args.record, args.threads,
                 evaluation=args.evaluation, crops_out=args.crops)
    elif args.command == "aggregate":
        from srloss.report import aggregate

        out = {"per_image": args.per_image, "summary_csv": args.summary_csv, "summary_md": args.summary_md,
               "figure": args.figure, "provenance": args.provenance}
        if args.root:
            out["root"] = args.root
        aggregate(args.metrics, args.config, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
