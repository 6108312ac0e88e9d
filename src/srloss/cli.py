"""``srloss prepare|train|evaluate|aggregate|fetch-weights``: what the workflow's rules call.

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
    t.add_argument("--best", default=None, help="output: state dict with the best validation PSNR-Y (.pt)")
    t.add_argument("--checkpoint", default=None,
                   help="resumable state: written every training.checkpoint_every steps and on SIGTERM/SIGUSR1, resumed from if present")
    t.add_argument("--init-weights", default=None, help="generator state dict to start from (another run's model.pt)")
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

    w = sub.add_parser("fetch-weights", help="download pretrained backbone weights into the torch hub cache")
    w.add_argument("backbones", nargs="*", help="backbone names (vgg19, resnet18, resnet50, alexnet, vgg16)")
    w.add_argument("--config", default=None, help="also fetch what this study config's losses need (YAML)")
    w.add_argument("--torch-home", default=None, help="cache root (default: $TORCH_HOME, else torch's default); files go to <root>/hub/checkpoints/")
    w.add_argument("--base-url", default=None, help="download from this folder instead of download.pytorch.org (a mirror)")

    g = sub.add_parser("gpu-run", help="run a command on a free GPU (sets CUDA_VISIBLE_DEVICES unless already set)",
                       description="Lock a free GPU, set CUDA_VISIBLE_DEVICES and exec the command; see srloss.gpu.")
    g.add_argument("cmd", nargs=argparse.REMAINDER, help="-- <command> [args...]")

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)

    if args.command == "gpu-run":
        from srloss.gpu import exec_on_free_gpu

        cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
        if not cmd:
            parser.error("gpu-run: no command given; usage: srloss gpu-run -- <command> [args...]")
        exec_on_free_gpu(cmd)  # does not return
    elif args.command == "prepare":
        from srloss.data.prepare import prepare

        prepare(args.spec, args.scale, {"train": args.train, "val": args.val, "test": args.test})
    elif args.command == "train":
        from srloss.train import Preempted, train

        try:
            record = train(args.spec, args.train_shard, args.val_shard, args.model, args.history, args.record, args.threads,
                           best_out=args.best, checkpoint_path=args.checkpoint, init_weights=args.init_weights)
        except Preempted as e:
            logging.warning("%s; rerun the same command to resume", e)
            return e.exit_code
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
    elif args.command == "fetch-weights":
        from srloss import weights

        if not args.backbones and not args.config:
            parser.error("fetch-weights: name backbones (" + ", ".join(weights.WEIGHT_FILES) + ") or give --config")
        backbones = list(args.backbones)
        if args.config:
            from srloss.config import load_yaml

            for loss in load_yaml(args.config).get("losses", {}).values():
                backbones += weights.required_backbones(loss.get("terms", []))
        paths = weights.fetch(sorted(set(backbones)), args.torch_home, args.base_url)
        for path in paths:
            logging.info("cached: %s", path)
        if not paths:
            logging.info("nothing to fetch: no term of the config uses pretrained ImageNet weights")
    return 0


if __name__ == "__main__":
    sys.exit(main())
