"""YAML that remembers where each value was written, so a config error can name its line.

An operator who reads "rules.2.actions.0: unknown action" still has to count list items; "line
14" takes them straight there. The loader also refuses duplicate keys, which plain YAML loading
silently resolves to the last one: in a policy file that would drop a rule's setting unseen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

Path = tuple[str | int, ...]


class LineMarkingLoader(yaml.SafeLoader):
    """A SafeLoader that records the line of every mapping key and sequence item."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.lines: dict[Path, int] = {}

    def construct_document(self, node: yaml.Node) -> Any:
        self._mark(node, ())
        return super().construct_document(node)

    def _mark(self, node: yaml.Node, path: Path) -> None:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
                child = (*path, key)
                if child in self.lines:
                    raise yaml.constructor.ConstructorError(
                        "while reading a mapping",
                        node.start_mark,
                        f"found duplicate key {key!r}",
                        key_node.start_mark,
                    )
                self.lines[child] = key_node.start_mark.line + 1
                self._mark(value_node, child)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._mark(item, (*path, index))


@dataclass(frozen=True)
class MarkedDocument:
    data: Any
    lines: dict[Path, int]

    def line_of(self, location: Sequence[str | int]) -> int:
        """The line of ``location``, or of its nearest ancestor that exists in the file (a
        missing field is reported at the mapping that lacks it)."""
        path = tuple(location)
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 1)


def load_marked(text: str) -> MarkedDocument:
    """Parse one YAML document; raises yaml.YAMLError (with a mark) on bad syntax."""
    loader = LineMarkingLoader(text)
    try:
        return MarkedDocument(loader.get_single_data(), loader.lines)
    finally:
        loader.dispose()


def error_line(exc: yaml.YAMLError) -> int | None:
    """The 1-based line a YAML syntax error points at, if it says."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return None if mark is None else int(mark.line) + 1
