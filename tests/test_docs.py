"""The README is a front door and the docs hold together: every link lands inside the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
PAGES = sorted((ROOT / "docs").glob("*.md"))
DOCUMENTS = [ROOT / "README.md", ROOT / "lambda" / "README.md", *PAGES]


def _anchors(path: Path) -> set[str]:
    """GitHub's heading anchors of a Markdown file (outside code fences)."""
    anchors, fence = set(), False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            fence = not fence
        elif not fence and re.match(r"^#{1,6} ", line):
            text = re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower())
            anchors.add(text.replace(" ", "-"))
    return anchors


def _links(path: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.DOTALL)
    return LINK.findall(text)


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_lands_on_a_file_and_heading_of_the_repository(document: Path) -> None:
    broken = []
    for target in _links(document):
        if re.match(r"^[a-z]+:", target):  # https://... : the AWS documentation a fact comes from
            continue
        path, _, anchor = target.partition("#")
        resolved = (document.parent / path).resolve() if path else document
        inside = resolved.is_relative_to(ROOT) and resolved.exists()
        heading = not anchor or resolved.suffix != ".md" or anchor in _anchors(resolved)
        if not (inside and heading):
            broken.append(target)

    assert broken == []


def test_every_docs_page_is_linked_from_the_readme() -> None:
    linked = {(ROOT / t.partition("#")[0]).resolve() for t in _links(ROOT / "README.md")}

    assert [p.name for p in PAGES if p.resolve() not in linked] == []


def test_the_readme_is_a_front_door_not_a_manual() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    headings = [line for line in lines if line.startswith("## ")]

    assert len(lines) <= 180
    assert headings == [
        "## The two commands",
        "## Deploy a stage",
        "## Answers while the model sleeps",
        "## Architecture",
        "## Code map",
        "## Documentation",
    ]


def test_the_code_map_has_a_row_for_every_top_level_folder() -> None:
    readme = (ROOT / "README.md").read_text()
    folders = {
        p.name
        for p in ROOT.iterdir()
        if p.is_dir()
        and not p.name.startswith(".")
        and p.name not in {"node_modules", "cdk.out", "build", "__pycache__"}
    }

    assert {f for f in folders if f"`{f}/`" not in readme} == set()
