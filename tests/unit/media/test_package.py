"""streams.media's public names."""

from __future__ import annotations

import pytest

import streams.media as media

pytestmark = pytest.mark.unit


def _export_order(name: str) -> tuple[int, str]:
    kind = 0 if name.isupper() else 1 if name[:1].isupper() else 2
    return kind, name


def test_public_names_are_exported_and_sorted() -> None:
    assert media.__all__ == sorted(media.__all__, key=_export_order)
    public = {name for name in vars(media) if not name.startswith("_")}
    modules = {"addresses", "fetcher", "images", "network"}
    assert public - modules == set(media.__all__)
