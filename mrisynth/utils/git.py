"""Git provenance: which commit produced a checkpoint or an MLflow run."""

from __future__ import annotations

import subprocess
from pathlib import Path

__all__ = ["git_commit", "source_commit"]

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def git_commit(cwd: str | Path | None = None) -> str | None:
    """Return the full hash of ``HEAD`` for the repository containing ``cwd``.

    A ``"-dirty"`` suffix is appended when tracked files have uncommitted changes, so a run
    tagged with a clean hash can be reproduced from that commit.

    Args:
        cwd: any folder inside the work tree; default: the current working directory.

    Returns:
        The 40-hex-digit hash (plus ``-dirty``), or ``None`` outside a git work tree or when
        ``git`` is not installed.
    """
    cwd = str(cwd) if cwd is not None else None
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10
        )
        if head.returncode != 0:
            return None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = head.stdout.strip()
    if status.returncode == 0 and status.stdout.strip():
        commit += "-dirty"
    return commit or None


def source_commit() -> str | None:
    """Commit of the mrisynth source in use (editable install), else of the working directory."""
    return git_commit(_PACKAGE_DIR) or git_commit()
