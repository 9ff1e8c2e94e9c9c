"""``python -m tools.models``: from a folder of photos to a promoted Custom Labels model.

Run ``python -m tools.models COMMAND --help`` for each command. AWS commands
find the stage's bucket, project, collection and tables from its deployed
``<Stage>-Data`` stack (``--stage``, default dev) with your usual AWS
credentials and region.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import boto3
from tqdm import tqdm

from tools.aws import report
from tools.models import crossaccount, detection, lifecycle, manifest, photo_index
from tools.models.lifecycle import StageResources, ToolError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tools.models", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--stage", default="dev", help="deployed stage to act on (default: dev)")
    parser.add_argument("--region", help="AWS region (default: your AWS configuration's)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    m = commands.add_parser("manifest", help="build Ground Truth manifests from a folder of images")
    m.add_argument(
        "folder", help="local folder or s3://BUCKET/PREFIX: <label>/<image> or 001.LABEL/<image>"
    )
    m.add_argument(
        "--s3-prefix", required=True, help="s3://BUCKET/PREFIX where the folder is uploaded"
    )
    m.add_argument("--out", type=Path, required=True, help="manifest file to write")
    m.add_argument("--test-split", type=float, help="fraction for a test manifest (e.g. 0.2)")
    m.add_argument("--seed", type=int, default=42, help="seed of the split (default 42)")
    m.add_argument(
        "--creation-date",
        default=manifest.DEFAULT_CREATION_DATE,
        help="fixed for reproducible files",
    )
    m.add_argument(
        "--annotations",
        type=Path,
        help="object detection: the boxes exported by a labelling tool (a COCO or Label "
        "Studio JSON file, a CVAT XML file, a folder of Pascal VOC XML or YOLO txt files); "
        "FOLDER then holds the images",
    )
    m.add_argument(
        "--annotation-format",
        choices=detection.FORMATS,
        help="the export's format (default: detected from what --annotations holds)",
    )

    u = commands.add_parser(
        "upload", help="upload a folder to the training bucket (skips unchanged)"
    )
    u.add_argument("folder", type=Path)
    u.add_argument("--prefix", default="datasets", help="key prefix (default datasets)")

    t = commands.add_parser("train", help="create datasets from manifests and train a new version")
    t.add_argument(
        "--train-manifest", required=True, help="key of the train manifest in the training bucket"
    )
    t.add_argument(
        "--test-manifest", required=True, help="key of the test manifest in the training bucket"
    )
    t.add_argument("--version-name", required=True)
    t.add_argument(
        "--wait", action="store_true", help="wait for training (Ctrl-C stops waiting, not training)"
    )

    commands.add_parser("status", help="list versions with status and which is active")

    i = commands.add_parser(
        "index",
        help="embed the labelled photos into the stage's photo index (provisional answers)",
    )
    i.add_argument(
        "--yes", action="store_true", help="go on without asking once the cost is printed"
    )
    i.add_argument(
        "--dry-run", action="store_true", help="print what would be embedded and its cost only"
    )

    e = commands.add_parser("evaluate", help="per-label precision, recall, F1 of a version")
    e.add_argument("version", help="version name or ARN")
    e.add_argument("--json", action="store_true")
    e.add_argument("--min-f1", type=float, default=0.0, help="exit 3 if the overall F1 is below")
    e.add_argument(
        "--no-provisional",
        action="store_true",
        help="skip the provisional classifier's scores (shown where the stage has an index)",
    )

    p = commands.add_parser("promote", help="make a version the stage's active model")
    p.add_argument("version")
    p.add_argument("--min-f1", type=float, default=0.0)
    p.add_argument(
        "--force", action="store_true", help="promote even if untrained or below the gate"
    )

    s = commands.add_parser("start", help="start a version (default: the active one)")
    s.add_argument("version", nargs="?")
    s.add_argument("--units", type=int, default=1, help="inference units (default 1)")
    s.add_argument("--wait", action="store_true")

    x = commands.add_parser("stop", help="stop a version (default: the active one)")
    x.add_argument("version", nargs="?")
    x.add_argument("--all", action="store_true", help="stop every running version of the project")

    c = commands.add_parser(
        "copy",
        help="copy a trained, evaluated version to another stage's account (dev -> prod)",
        description=(
            "Copy VERSION of --stage's project to --to-stage's project with CopyProjectVersion "
            "(same region, any account): puts a project policy on the source project that lets "
            "only the destination account copy only this version, copies, waits, deletes the "
            "policy, and compares the copy's evaluation with the source's. Promote the copy "
            "with 'python -m tools.models --stage TO_STAGE promote VERSION'."
        ),
    )
    c.add_argument("version", help="version name or ARN in --stage")
    c.add_argument("--to-stage", required=True, help="destination stage (e.g. prod)")
    c.add_argument(
        "--to-profile",
        help="AWS profile with credentials of the destination account (default: the same "
        "credentials as the source; needed when the stages are in different accounts)",
    )
    c.add_argument(
        "--min-f1", type=float, default=0.0, help="refuse a source version below this F1"
    )
    c.add_argument("--version-name", help="name of the copy (default: the source's name)")

    return parser


def _resources(args: argparse.Namespace, session: Any) -> StageResources:
    return lifecycle.stage_resources(session.client("cloudformation"), args.stage)


def run(args: argparse.Namespace, session: Any, out: Any = None, to_session: Any = None) -> int:
    """Execute one parsed command; returns the exit code.

    :param to_session: the destination account's session (``copy``); default ``session``.
    """
    out = out or sys.stdout
    if args.command == "manifest" and args.annotations:
        return _detection_manifest(args, out)
    if args.command == "manifest":
        paths, read = (
            manifest.scan_s3(session.client("s3"), args.folder)
            if args.folder.startswith("s3://")
            else manifest.scan_local(Path(args.folder))
        )
        result = manifest.collect(paths, read)
        for left_out in result.skipped:
            print(f"skipped {left_out.path}: {left_out.reason}", file=sys.stderr)
        outputs = {args.out: result.images}
        if args.test_split:
            train, test = manifest.split(result.images, args.test_split, args.seed)
            outputs = {args.out: train, args.out.with_suffix(".test" + args.out.suffix): test}
        for path, images in outputs.items():
            lines = manifest.manifest_lines(
                images, result.labels, args.s3_prefix, args.creation_date
            )
            path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
            print(f"wrote {path}: {len(lines)} images", file=out)
        print(f"labels: {', '.join(result.labels)}; skipped {len(result.skipped)} files", file=out)
        return 0
    resources = _resources(args, session)
    rekognition = session.client("rekognition")
    if args.command == "upload":
        uploaded, skipped = lifecycle.upload_folder(
            session.client("s3"),
            args.folder,
            resources.training_bucket,
            args.prefix,
            progress=lambda files: tqdm(files, unit="file", desc="upload"),
        )
        print(
            f"uploaded {uploaded}, unchanged {skipped} (s3://{resources.training_bucket}/{args.prefix}/)",
            file=out,
        )
    elif args.command == "train":
        arn = lifecycle.train(
            rekognition,
            resources,
            train_manifest_key=args.train_manifest,
            test_manifest_key=args.test_manifest,
            version_name=args.version_name,
        )
        print(f"training {arn}", file=out)
        if args.wait:
            try:
                lifecycle.wait_for(
                    rekognition,
                    resources,
                    args.version_name,
                    lifecycle.TERMINAL_TRAINING,
                    lambda line: print(line, file=out),
                )
            except KeyboardInterrupt:
                print("stopped waiting; training goes on (see 'status')", file=out)
    elif args.command == "status":
        active = lifecycle.active_version(session.client("dynamodb"), resources)
        for v in lifecycle.versions(rekognition, resources):
            mark = "*" if v["ProjectVersionArn"] == active else " "
            name = v["ProjectVersionArn"].split("/version/")[1].split("/")[0]
            units = v.get("MinInferenceUnits") or "-"
            print(f"{mark} {name:<24} {v['Status']:<22} {units} IU", file=out)
    elif args.command == "index":
        return _index(args, session, resources, out)
    elif args.command == "evaluate":
        evaluation = lifecycle.evaluate(rekognition, session.client("s3"), resources, args.version)
        provisional = None
        if resources.photo_index_arn and not args.no_provisional:
            settings = _stage_settings(args.stage).provisional
            provisional = photo_index.evaluate_provisional(
                session.client("s3vectors"),
                resources.photo_index_arn,
                settings.k,
                settings.min_similarity,
            )
        if args.json:
            answer: dict[str, Any] = asdict(evaluation)
            if provisional is not None:
                answer["provisional"] = asdict(provisional)
            print(json.dumps(answer, indent=2), file=out)
        else:
            header = ("label", "precision", "recall", "F1", "threshold", "images")
            print("{:<24} {:>9} {:>7} {:>6} {:>9} {:>6}".format(*header), file=out)
            for score in evaluation.labels:
                print(
                    f"{score.label:<24} {score.precision:>9.3f} {score.recall:>7.3f} "
                    f"{score.f1:>6.3f} {score.threshold:>9.3f} {score.test_images:>6}",
                    file=out,
                )
            print(f"overall F1 {evaluation.f1:.3f}", file=out)
            if provisional is not None:
                _print_provisional(evaluation, provisional, out)
        if evaluation.f1 < args.min_f1:
            print(f"F1 {evaluation.f1:.3f} is below --min-f1 {args.min_f1}", file=sys.stderr)
            return 3
    elif args.command == "promote":
        arn = lifecycle.promote(
            rekognition,
            session.client("dynamodb"),
            session.client("s3"),
            resources,
            args.version,
            min_f1=args.min_f1,
            force=args.force,
        )
        print(f"active model of {resources.stage}: {arn}", file=out)
    elif args.command in {"start", "stop"}:
        version = args.version or lifecycle.active_version(session.client("dynamodb"), resources)
        if args.command == "start":
            if version is None:
                raise ToolError("no version given and none promoted; name one or run 'promote'")
            status = lifecycle.start(rekognition, resources, version, args.units)
            print(f"{version}: {status} (takes minutes; 'status' shows progress)", file=out)
            if args.wait:
                lifecycle.wait_for(
                    rekognition,
                    resources,
                    version,
                    frozenset({"RUNNING", "FAILED"}),
                    lambda line: print(line, file=out),
                )
        else:
            if version is None and not args.all:
                raise ToolError("no version given and none promoted; name one or use --all")
            stopped = lifecycle.stop(rekognition, resources, None if args.all else version)
            print(
                f"stopping {len(stopped)} version(s): {', '.join(stopped) or 'none running'}",
                file=out,
            )
    elif args.command == "copy":
        target = to_session or session
        destination = lifecycle.stage_resources(target.client("cloudformation"), args.to_stage)
        copied = crossaccount.copy_version(
            source_rekognition=rekognition,
            source_s3=session.client("s3"),
            source=resources,
            destination_rekognition=target.client("rekognition"),
            destination_s3=target.client("s3"),
            destination=destination,
            version=args.version,
            min_f1=args.min_f1,
            version_name=args.version_name,
            report=lambda line: print(line, file=out),
        )
        print(
            f"copied to {destination.stage}: {copied.version_arn}\n"
            f"F1 in {resources.stage} {copied.source.f1:.3f}, "
            f"in {destination.stage} {copied.copy.f1:.3f}\n"
            f"promote it with: python -m tools.models --stage {destination.stage} promote "
            f"{args.version_name or copied.version_arn.split('/version/')[1].split('/')[0]}"
            + (f" --min-f1 {args.min_f1:g}" if args.min_f1 else ""),
            file=out,
        )
    return 0


def _detection_manifest(args: argparse.Namespace, out: Any) -> int:
    """``manifest FOLDER --annotations PATH``: Ground Truth object-detection manifests."""
    images = Path(args.folder)
    if str(args.folder).startswith("s3://") or not images.is_dir():
        raise ToolError(
            f"{args.folder}: with --annotations, FOLDER is a local folder of the images"
        )
    folders = [p for p in images.iterdir() if p.is_dir() and any(p.iterdir())]
    if folders:
        names = ", ".join(sorted(p.name for p in folders)[:3])
        raise ToolError(
            f"{images} mixes layouts: it has label folders ({names}) and --annotations. "
            "Folders per label make a classification manifest, boxes a detection one: "
            "give the images of the export alone"
        )
    found, classes = detection.read(args.annotations, images, args.annotation_format)
    kept, problems, labels = detection.validate(found, images, str(args.annotations), classes)
    for problem in problems:
        print(f"problem {problem}", file=sys.stderr)
    outputs = {args.out: kept}
    if args.test_split:
        train, test = detection.split(kept, args.test_split, args.seed)
        outputs = {args.out: train, args.out.with_suffix(".test" + args.out.suffix): test}
    for path, part in outputs.items():
        lines = detection.manifest_lines(part, labels, args.s3_prefix, args.creation_date)
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        boxes = sum(len(a.boxes) for a in part)
        print(f"wrote {path}: {len(lines)} images, {boxes} boxes", file=out)
    print(f"labels: {', '.join(labels)}; {len(problems)} problem(s) reported", file=out)
    return 0


def _stage_settings(stage: str) -> Any:
    """The stage's config from cdk.json (the embedding model, k, the dataset prefix)."""
    from tools.cost.cli import stage_config

    return stage_config(stage)


def _index(args: argparse.Namespace, session: Any, resources: StageResources, out: Any) -> int:
    if not resources.photo_index_arn:
        raise ToolError(
            f"stage {resources.stage} has no photo index: set provisional.enabled in cdk.json "
            "and deploy it"
        )
    config = _stage_settings(resources.stage)
    target = photo_index.IndexTarget(
        training_bucket=resources.training_bucket,
        feedback_table=resources.feedback_table,
        index_arn=resources.photo_index_arn,
        dataset_prefix=config.retraining.dataset_prefix,
        test_fraction=config.retraining.test_fraction,
        model=photo_index.model_named(config.provisional.embedding_model),
    )
    s3, s3vectors = session.client("s3"), session.client("s3vectors")
    work, skipped = photo_index.plan_index(s3, session.client("dynamodb"), s3vectors, target)
    for key, reason in skipped:
        print(f"skipped {key}: {reason}", file=sys.stderr)
    print(photo_index.describe_plan(work, target.model), file=out)
    if args.dry_run or (not work.to_embed and not work.stale):
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            raise ToolError("not a terminal: add --yes to go on at that cost")
        if input("go on? [y/N] ").strip().lower() not in {"y", "yes"}:
            print("nothing embedded", file=out)
            return 0
    result = photo_index.run_index(
        s3,
        session.client("bedrock-runtime"),
        s3vectors,
        target,
        work,
        progress=lambda total: tqdm(total=total, unit="photo", desc="embed"),
    )
    for key, reason in result.skipped:
        print(f"skipped {key}: {reason}", file=sys.stderr)
    print(
        f"embedded {result.embedded} (shrunk {result.shrunk} to the model's pixels), "
        f"deleted {result.deleted}, skipped {len(result.skipped) + len(skipped)}",
        file=out,
    )
    return 0


def _print_provisional(evaluation: Any, provisional: Any, out: Any) -> None:
    """The provisional classifier's scores beside the model's, label by label."""
    model_f1 = {score.label: score.f1 for score in evaluation.labels}
    print("", file=out)
    print("provisional answers (nearest train photos vote; same test split):", file=out)
    header = ("label", "precision", "recall", "F1", "model F1", "images")
    print("{:<24} {:>9} {:>7} {:>6} {:>9} {:>6}".format(*header), file=out)
    for score in provisional.labels:
        theirs = model_f1.get(score.label)
        print(
            f"{score.label:<24} {score.precision:>9.3f} {score.recall:>7.3f} {score.f1:>6.3f} "
            f"{'-' if theirs is None else f'{theirs:.3f}':>9} {score.test_images:>6}",
            file=out,
        )
    print(
        f"model F1 {evaluation.f1:.3f}, provisional {provisional.f1:.3f} "
        f"({provisional.unanswered} of {provisional.test_photos} test photos had no train "
        "photo similar enough)",
        file=out,
    )


def main(argv: Sequence[str] | None = None, session: Any = None) -> int:
    args = _parser().parse_args(argv)

    def go() -> int:
        to_session = (
            boto3.Session(profile_name=args.to_profile, region_name=args.region)
            if getattr(args, "to_profile", None)
            else None
        )
        return run(args, session or boto3.Session(region_name=args.region), to_session=to_session)

    return report(go, (manifest.ManifestError, detection.AnnotationError))


if __name__ == "__main__":
    raise SystemExit(main())
