"""MkDocs hook: repository files that the pages link to are part of the site.

A page may link to a file of the repository outside ``docs/`` (``../experiments/README.md``,
``../benchmarks/README.md``). On GitHub such a link opens the file; on the built site it would
lead nowhere. This hook adds every such file (and, transitively, the repository files those
Markdown files link to) to the site under ``repository/`` with its path in the repository
(``repository/experiments/README.md``): Markdown files become pages, other files are copied
as they are. Each link is rewritten to its docs-relative form before MkDocs validates it, so
``mkdocs build --strict`` still fails on a link to a file that does not exist. A pattern in
``not_in_nav`` (``/repository/``) keeps the pages that are not in the nav from being reported.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from mkdocs.structure.files import File, Files

PREFIX = "repository"
_LINK = re.compile(r"(\]\()([^)\s]+)(\))")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


def _targets(text: str) -> list[str]:
    """The relative link targets of a Markdown text, without their ``#anchor``."""
    found = []
    for target in (m.group(2) for m in _LINK.finditer(text)):
        if _SCHEME.match(target) or target.startswith(("#", "/")):
            continue
        found.append(target.split("#")[0])
    return [t for t in found if t]


def _repository_file(source: Path, target: str, root: Path, docs: Path) -> Path | None:
    """The repository file ``target`` names from ``source``, if it is outside ``docs``."""
    path = (source.parent / target).resolve()
    if docs in path.parents or not (root == path.parent or root in path.parents):
        return None
    return path if path.is_file() else None


def on_files(files: Files, config) -> Files:
    """Add the repository files the pages link to (transitively) under ``repository/``."""
    docs = Path(config["docs_dir"]).resolve()
    root = docs.parent
    queue = [Path(f.abs_src_path) for f in files if f.src_uri.endswith(".md")]
    added: set[Path] = set()
    while queue:
        source = queue.pop()
        for target in _targets(source.read_text(encoding="utf-8")):
            path = _repository_file(source, target, root, docs)
            if path is None or path in added:
                continue
            added.add(path)
            uri = posixpath.join(PREFIX, path.relative_to(root).as_posix())
            files.append(File.generated(config, uri, abs_src_path=str(path)))
            if path.suffix == ".md":
                queue.append(path)
    return files


def on_page_markdown(markdown: str, page, config, files: Files) -> str:
    """Rewrite each link to a repository file as the docs-relative path of its site copy."""
    docs = Path(config["docs_dir"]).resolve()
    root = docs.parent
    in_repository = page.file.src_uri.startswith(PREFIX + "/")
    source = root / page.file.src_uri[len(PREFIX) + 1 :] if in_repository else docs / page.file.src_uri
    here = posixpath.dirname(page.file.src_uri)

    def rewrite(match: re.Match) -> str:
        target = match.group(2)
        if _SCHEME.match(target) or target.startswith(("#", "/")):
            return match.group(0)
        path_part, hashmark, anchor = target.partition("#")
        path = (source.parent / path_part).resolve() if path_part else None
        if path is None or not (root == path.parent or root in path.parents):
            return match.group(0)
        if docs == path or docs in path.parents:
            uri = path.relative_to(docs).as_posix()
        else:
            uri = posixpath.join(PREFIX, path.relative_to(root).as_posix())
        return match.group(1) + posixpath.relpath(uri, here or ".") + hashmark + anchor + match.group(3)

    return _LINK.sub(rewrite, markdown)
