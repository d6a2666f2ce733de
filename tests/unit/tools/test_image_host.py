"""The image host of tests, the bench and the demo serves the folder as it is on disk."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from hashgate_tools.harness.images import serve_folder


@pytest.fixture
async def host(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    (tmp_path / "a.png").write_bytes(b"first")
    (tmp_path / "sub").mkdir()
    async with serve_folder(tmp_path) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        yield client


async def test_a_file_with_its_content_type(host: httpx.AsyncClient) -> None:
    response = await host.get("/images/a.png")
    assert response.status_code == 200
    assert response.content == b"first"
    assert response.headers["content-type"] == "image/png"
    assert response.headers["content-length"] == "5"


async def test_a_file_changed_or_added_after_the_start_is_served_as_it_is_now(
    host: httpx.AsyncClient, tmp_path: Path
) -> None:
    assert (await host.get("/images/a.png")).content == b"first"
    (tmp_path / "a.png").write_bytes(b"second, longer")
    (tmp_path / "b.jpg").write_bytes(b"added")
    assert (await host.get("/images/a.png")).content == b"second, longer"
    added = await host.get("/images/b.jpg")
    assert (added.content, added.headers["content-type"]) == (b"added", "image/jpeg")


async def test_a_file_rewritten_at_the_same_size_is_read_again(
    host: httpx.AsyncClient, tmp_path: Path
) -> None:
    assert (await host.get("/images/a.png")).content == b"first"
    path = tmp_path / "a.png"
    path.write_bytes(b"other")
    later = path.stat().st_mtime_ns + 1_000_000
    os.utime(path, ns=(later, later))
    assert (await host.get("/images/a.png")).content == b"other"


@pytest.mark.parametrize("name", ["missing.png", "sub", "..", "%2e%2e"])
async def test_only_files_of_the_folder_are_served(host: httpx.AsyncClient, name: str) -> None:
    assert (await host.get(f"/images/{name}")).status_code == 404
