"""A line diff of two prompts (difflib), for the version registry's ``diff``."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

__all__ = ["PromptDiff", "diff_prompts"]


@dataclass(frozen=True, slots=True)
class PromptDiff:
    unified: str
    added: tuple[str, ...]
    removed: tuple[str, ...]
    length_difference: int  # characters, new minus old


def diff_prompts(old: str, new: str, *, old_name: str = "old", new_name: str = "new") -> PromptDiff:
    old_lines, new_lines = old.splitlines(), new.splitlines()
    lines = list(
        difflib.unified_diff(old_lines, new_lines, fromfile=old_name, tofile=new_name, lineterm="")
    )
    added = tuple(line[1:] for line in lines if line.startswith("+") and not line.startswith("+++"))
    removed = tuple(
        line[1:] for line in lines if line.startswith("-") and not line.startswith("---")
    )
    return PromptDiff("\n".join(lines), added, removed, len(new) - len(old))
