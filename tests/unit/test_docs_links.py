"""Every relative link in README.md and docs/*.md resolves: the file exists and, for a
``#anchor`` on a Markdown file, that file has a heading with that GitHub slug. Web and mail
links are not followed (unit tests touch no network)."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from urllib.parse import unquote

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

FENCE = re.compile(r"^\s*(```|~~~)")
# [text](target) and ![alt](target), target up to the first space or ')'; an optional title
MD_LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML_LINK = re.compile(r"<(?:img|a)\b[^>]*?\b(?:src|href)=\"([^\"]+)\"", re.IGNORECASE)
INLINE_CODE = re.compile(r"`[^`\n]*`")
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.IGNORECASE)  # http:, https:, mailto:, ...


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks, inline code removed."""
    lines, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, INLINE_CODE.sub("", line)))
    return lines


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r"<[^>]+>", "", heading)                     # inline HTML
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)       # links keep their text
    text = unicodedata.normalize("NFC", text).strip().lower()
    text = "".join(c for c in text
                   if c in " -_" or unicodedata.category(c)[0] in "LNM")
    return text.replace(" ", "-")


def heading_slugs(path: Path) -> set[str]:
    """Every anchor the Markdown file offers; repeated headings get -1, -2, ... as on GitHub."""
    slugs: set[str] = set()
    seen: dict[str, int] = {}
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        match = None if fenced else re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            slug = github_slug(match.group(1))
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            slugs.add(slug if count == 0 else f"{slug}-{count}")
    return slugs


def relative_links(path: Path) -> list[tuple[int, str]]:
    links = []
    for number, line in prose_lines(path.read_text(encoding="utf-8")):
        for pattern in (MD_LINK, HTML_LINK):
            links += [(number, m.group(1)) for m in pattern.finditer(line)
                      if not EXTERNAL.match(m.group(1))]
    return links


def broken_links(path: Path, root: Path = REPO) -> list[str]:
    problems = []
    for number, target in relative_links(path):
        file_part, _, anchor = target.partition("#")
        where = (path.parent / unquote(file_part)).resolve() if file_part else path
        name = f"{path.relative_to(root)}:{number}: ({target})"
        if not where.exists():
            problems.append(f"{name}: no such file")
        elif (anchor and where.suffix == ".md"
              and unquote(anchor).lower() not in heading_slugs(where)):
            problems.append(f"{name}: {where.name} has no heading with the anchor #{anchor}")
    return problems


def test_the_docs_exist_and_the_readme_lists_each():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    docs = sorted((REPO / "docs").glob("*.md"))
    assert docs, "docs/ holds no Markdown files"
    unlisted = [d.name for d in docs if f"(docs/{d.name})" not in readme]
    assert not unlisted, f"README's 'Where to read more' does not link {unlisted}"


@pytest.mark.parametrize("path", DOCS, ids=[str(p.relative_to(REPO)) for p in DOCS])
def test_every_relative_link_resolves(path: Path):
    problems = broken_links(path)
    assert not problems, ("broken links (paths are relative to the file that holds them; "
                          "anchors are GitHub heading slugs):\n" + "\n".join(problems))


def test_the_checker_sees_a_broken_link(tmp_path: Path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# Exit codes and the failure contract\n")
    page = tmp_path / "README.md"
    page.write_text(
        "[ok](docs/a.md#exit-codes-and-the-failure-contract) [web](https://example.com/x)\n"
        "`[in code](nowhere.md)`\n```\n[fenced](nowhere.md)\n```\n"
        "[gone](docs/b.md) ![pic](docs/missing.png) [bad anchor](docs/a.md#exit-codes)\n"
        '<img src="docs/missing-too.png" width="1">\n')
    problems = broken_links(page, root=tmp_path)
    assert [p.split(": ", 1)[0] for p in problems] == [
        "README.md:6", "README.md:6", "README.md:6", "README.md:7"], problems
