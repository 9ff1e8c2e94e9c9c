"""``python -m tools.faces``: people in the stage's face collection, as Rekognition users.

Commands::

    python -m tools.faces enroll FOLDER     # FOLDER/<person>/<photo>.jpg, one person per folder
    python -m tools.faces list
    python -m tools.faces remove PERSON     # the user, its faces and our records, read back
    python -m tools.faces migrate           # a stage enrolled face by face: make its users

``--stage`` (default dev) names the deployed stage; your usual AWS credentials and
region are used. Exit 0 when done, 1 on an error, 3 when ``remove`` found something left.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import boto3
from tqdm import tqdm

from tools.aws import report
from tools.faces import people
from tools.models import lifecycle


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tools.faces", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--stage", default="dev", help="deployed stage to act on (default: dev)")
    parser.add_argument("--region", help="AWS region (default: your AWS configuration's)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    e = commands.add_parser("enroll", help="enroll FOLDER/<person>/<photo> as people")
    e.add_argument("folder", type=Path)
    commands.add_parser("list", help="people and their faces")
    r = commands.add_parser("remove", help="forget a person: user, faces and records")
    r.add_argument("person")
    commands.add_parser("migrate", help="make users from a stage enrolled face by face")
    return parser


def _print_report(report: people.Report, out: Any) -> None:
    for person, photo, reason in report.skipped:
        print(f"skipped {photo} ({person}): {reason}", file=sys.stderr)
    for person, counts in report.summary().items():
        print(f"{person}: {counts['enrolled']} enrolled, {counts['skipped']} skipped", file=out)


def run(args: argparse.Namespace, session: Any, out: Any = None) -> int:
    out = out or sys.stdout
    resources = lifecycle.stage_resources(session.client("cloudformation"), args.stage)
    rekognition, dynamodb = session.client("rekognition"), session.client("dynamodb")
    if args.command == "enroll":
        report = people.enroll(
            rekognition,
            dynamodb,
            resources,
            args.folder,
            progress=lambda folders: tqdm(folders, unit="person", desc="enroll"),
        )
        _print_report(report, out)
    elif args.command == "list":
        found = people.list_people(rekognition, resources)
        for person, count in found.items():
            print(f"{person}: {count} face(s)", file=out)
        if not found:
            print("nobody is enrolled; run 'python -m tools.faces enroll FOLDER'", file=out)
    elif args.command == "remove":
        removal = people.remove_person(rekognition, dynamodb, resources, args.person)
        print(
            f"removed {args.person}: {len(removal.faces)} face(s), the user, "
            f"{removal.records} record(s)",
            file=out,
        )
        if not removal.complete:
            print(
                f"still there after reading back: faces {removal.left_faces}, user "
                f"{removal.left_user}, records {removal.left_records}; run remove again",
                file=sys.stderr,
            )
            return 3
        print("read back: no user, no face, no record is left", file=out)
    else:
        _print_report(people.migrate(rekognition, dynamodb, resources), out)
    return 0


def main(argv: Sequence[str] | None = None, session: Any = None) -> int:
    args = _parser().parse_args(argv)
    return report(lambda: run(args, session or boto3.Session(region_name=args.region)))


if __name__ == "__main__":
    raise SystemExit(main())
