"""What identifies a user task's code: its file and the local modules it imports, comments aside.

A run id must change when the code that builds the model changes, and only
then. `code_digest` hashes the task file together with every module beside it
that it imports (transitively: ``import helpers``, ``from models import unet``,
also inside functions), each as its parsed syntax tree (``ast.dump``), so a
comment, blank line or formatting edit changes nothing while any change to the
code does. Installed packages are not local modules: their versions are
recorded in every run's ``config.json`` instead.
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

__all__ = ["local_modules", "code_digest"]


def _parse(path: Path) -> ast.AST | None:
    try:
        return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return None


def _imported_names(tree: ast.AST) -> set[str]:
    """Dotted names a module may import: ``import a.b`` -> a, a.b; ``from a import b`` -> a, a.b."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            dotted = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            dotted = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in dotted:
            parts = name.split(".")
            names.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return names


def _file_of(root: Path, dotted: str) -> Path | None:
    """The file of module ``dotted`` under ``root`` (``a/b.py`` or ``a/b/__init__.py``), if any."""
    base = root.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate.resolve()
    return None


def local_modules(path: str | Path) -> list[Path]:
    """The files of the modules beside ``path`` (in its folder or packages below it) that it
    imports, directly or through one another; sorted, ``path`` itself not included."""
    path = Path(path).resolve()
    root, seen, todo = path.parent, {path}, [path]
    while todo:
        tree = _parse(todo.pop())
        if tree is None:
            continue
        for name in sorted(_imported_names(tree)):
            found = _file_of(root, name)
            if found is not None and found not in seen:
                seen.add(found)
                todo.append(found)
    return sorted(seen - {path})


def code_digest(path: str | Path) -> str:
    """SHA-256 (hex) of ``path`` and its `local_modules`: each file's name relative to ``path``'s
    folder and its syntax tree (a file that does not parse: its bytes)."""
    path = Path(path).resolve()
    digest = hashlib.sha256()
    for file in [path, *local_modules(path)]:
        tree = _parse(file)
        digest.update(str(file.relative_to(path.parent)).encode() + b"\0")
        digest.update(ast.dump(tree).encode() if tree is not None else file.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()
