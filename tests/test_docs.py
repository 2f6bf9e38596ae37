"""The documentation ships with the project and every reference into it resolves.

(a) No tracked file points outside the repository for its design notes: no path into a ``shared``
    folder, no ``*.md`` design/style notes of that folder, no bare "<NAME> <number>" citation of them.
(b) Every ``docs/<page>.md#<anchor>`` reference in any tracked file, and every relative link
    between the docs pages, names an existing page and an anchor that page defines (an explicit
    ``<a id="…">`` or a heading's GitHub slug).

The checks are functions of a directory tree, so they are also run on a planted tree to show that
they fail when they should. The file list comes from ``git ls-files``, or from walking the tree when
git or a checkout is not available.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Built from pieces so that this file does not match its own patterns.
_NAMES = "|".join(("DES" + "IGN", "STY" + "LE"))
FORBIDDEN = [
    ("path into a shared folder", re.compile(r"(?<![\w-])shared" + "/")),
    ("design/style notes file", re.compile(rf"\b(?:{_NAMES})\.md\b")),
    ("bare design/style citation", re.compile(rf"\b(?:{_NAMES})(?:'s)?\s*§?\s*\d")),
]
DOC_REF = re.compile(r"(?<![\w/.-])docs/([A-Za-z0-9_.-]+\.md)(?:#([A-Za-z0-9_-]+))?")
REL_LINK = re.compile(r"\]\(([A-Za-z0-9_.-]+\.md)?(?:#([A-Za-z0-9_-]+))?\)")
ANCHOR_ID = re.compile(r"""<a\s+(?:id|name)=["']([^"']+)["']""")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.M)
SKIP_DIRS = {".git", ".venv", "venv", "__pycache__", ".pytest_cache", "build", "dist", "report", "node_modules"}


def tracked_files(root: Path) -> list[str]:
    """Paths relative to ``root`` of the files git tracks, or of every file when git cannot say."""
    if shutil.which("git") and (root / ".git").exists():
        try:
            out = subprocess.run(["git", "-C", str(root), "ls-files", "-z"], capture_output=True,
                                 check=True, timeout=60).stdout
            return sorted(f for f in out.decode().split("\0") if f)
        except (OSError, subprocess.SubprocessError):
            pass
    files = []
    for d, dirs, names in os.walk(root):
        dirs[:] = [x for x in dirs if x not in SKIP_DIRS and not x.endswith(".egg-info")]
        files += [Path(d, n).relative_to(root).as_posix() for n in names]
    return sorted(files)


def read_text(path: Path) -> str | None:
    """The file as text, or None for binary (NUL bytes or not UTF-8) and missing files."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"<[^>]+>|`", "", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(text: str) -> set[str]:
    return set(ANCHOR_ID.findall(text)) | {slug(h) for h in HEADING.findall(text)}


def forbidden_hits(root: Path, files: list[str]) -> list[str]:
    hits = []
    for rel in files:
        text = read_text(root / rel)
        if text is None:
            continue
        for what, pat in FORBIDDEN:
            for m in pat.finditer(text):
                line = text.count("\n", 0, m.start()) + 1
                hits.append(f"{rel}:{line}: {what}: {m.group(0)!r}")
    return hits


def bad_refs(root: Path, files: list[str]) -> list[str]:
    """References to docs pages or anchors that do not exist."""
    cache: dict[str, set[str] | None] = {}

    def page_anchors(page: str) -> set[str] | None:
        if page not in cache:
            text = read_text(root / "docs" / page)
            cache[page] = None if text is None else anchors(text)
        return cache[page]

    bad = []
    for rel in files:
        text = read_text(root / rel)
        if text is None:
            continue
        refs = [(m, m.group(1), m.group(2)) for m in DOC_REF.finditer(text)]
        if rel.startswith("docs/") and rel.endswith(".md"):
            here = rel[len("docs/"):]
            refs += [(m, m.group(1) or here, m.group(2)) for m in REL_LINK.finditer(text)
                     if m.group(1) or m.group(2)]
        for m, page, anchor in refs:
            line = text.count("\n", 0, m.start()) + 1
            known = page_anchors(page)
            if known is None:
                bad.append(f"{rel}:{line}: no page docs/{page}")
            elif anchor is not None and anchor not in known:
                bad.append(f"{rel}:{line}: docs/{page} has no anchor #{anchor}")
    return bad


def test_no_reference_outside_the_repository():
    hits = forbidden_hits(ROOT, tracked_files(ROOT))
    assert not hits, "references to notes outside the repository (point into docs/ instead):\n" + "\n".join(hits)


def test_every_docs_reference_resolves():
    files = tracked_files(ROOT)
    assert "docs/README.md" in files
    bad = bad_refs(ROOT, files)
    assert not bad, "broken docs/ references:\n" + "\n".join(bad)


def test_docs_are_cited_and_the_netlist_header_points_into_them():
    """The references exist at all (an empty scan would pass the two tests above vacuously)."""
    files = tracked_files(ROOT)
    n_refs = sum(len(DOC_REF.findall(read_text(ROOT / f) or "")) for f in files if not f.startswith("docs/"))
    assert n_refs >= 50, n_refs
    for cir in [f for f in files if f.startswith("netlists/") and f.endswith(".cir")]:
        header = [ln for ln in (read_text(ROOT / cir) or "").splitlines()[:10] if ln.startswith("* conventions:")]
        assert len(header) == 1 and DOC_REF.search(header[0]), (cir, header)


def test_the_checks_fail_on_a_planted_tree(tmp_path):
    """A tree that is not a git checkout (walked), with one good and several bad references.

    The planted references are assembled from pieces so that this file itself holds none."""
    d = "do" + "cs/"
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "page.md").write_text('<a id="cell"></a>\n# The page\n\n## Error laws\n'
                                               "[ok](page.md#error-laws) [bad](page.md#nope)\n")
    (tmp_path / "code.py").write_text(
        f"# good: {d}page.md#cell, {d}page.md#the-page, {d}page.md\n"
        f"# bad: {d}page.md#missing and {d}other.md#cell\n"
        f"# forbidden: {'DES' + 'IGN'} 1.3, ../{'sha' + 'red'}/x, {'STY' + 'LE'}.md\n")
    (tmp_path / "blob.bin").write_bytes(b"\0" + d.encode() + b"none.md#x " + b"DES" + b"IGN 4")
    files = tracked_files(tmp_path)
    assert files == ["blob.bin", "code.py", f"{d}page.md"]
    bad = bad_refs(tmp_path, files)
    assert len(bad) == 3, bad
    assert any("#missing" in b for b in bad) and any(f"{d}other.md" in b for b in bad)
    assert any(b.startswith(f"{d}page.md:5") and "#nope" in b for b in bad)
    hits = forbidden_hits(tmp_path, files)
    assert len(hits) == 3 and all(h.startswith("code.py:3") for h in hits), hits
