"""The known-images database: add, look up, persist, and never hold an image."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hashgate_tools.simulator import HashDatabase, generate, packaged_db_path
from hashgate_tools.simulator.database import FIRST_MATCH_ID
from hashgate_tools.simulator.images import PdqHash

pytestmark = pytest.mark.unit


def _hash(bits: int) -> PdqHash:
    return PdqHash(bits, quality=100)


def test_added_entries_get_increasing_match_ids_and_defaults() -> None:
    db = HashDatabase()
    first = db.add(_hash(1))
    second = db.add(_hash(2), source="NCMEC", violations=("A1", "B2"), label="two")
    assert (first.match_id, second.match_id) == (str(FIRST_MATCH_ID), str(FIRST_MATCH_ID + 1))
    assert (first.source, first.violations) == ("Test", ("A1",))
    assert (second.source, second.violations, second.label) == ("NCMEC", ("A1", "B2"), "two")


def test_duplicate_match_id_is_refused() -> None:
    db = HashDatabase()
    db.add(_hash(1), match_id="42")
    with pytest.raises(ValueError, match="42"):
        db.add(_hash(2), match_id="42")


def test_lookup_finds_the_nearest_entry_within_the_threshold() -> None:
    db = HashDatabase()
    far = db.add(_hash(0))
    near = db.add(_hash(0b1111 << 100))
    probe = _hash((0b1111 << 100) | 0b11)  # 2 bits from `near`, 6 from `far`
    assert db.lookup(probe, threshold=31) == (near, 2)
    assert db.lookup(_hash(0b11), threshold=31) == (far, 2)


def test_lookup_threshold_is_inclusive() -> None:
    db = HashDatabase()
    entry = db.add(_hash(0))
    at_31 = _hash((1 << 31) - 1)
    at_32 = _hash((1 << 32) - 1)
    assert db.lookup(at_31, threshold=31) == (entry, 31)
    assert db.lookup(at_32, threshold=31) is None


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    db = HashDatabase()
    for sample in generate(seed=4, count=2):
        db.add(sample.pdq, label=sample.label, violations=("A1", "A2"))
    db.save(path)
    loaded = HashDatabase.load(path)
    assert loaded.entries == db.entries
    assert loaded.next_match_id() == str(FIRST_MATCH_ID + 2)


def test_missing_file_loads_as_empty(tmp_path: Path) -> None:
    assert len(HashDatabase.load(tmp_path / "absent.json")) == 0


def test_malformed_hash_in_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    path.write_text(json.dumps({"entries": [{"match_id": "1", "pdq": "xyz"}]}))
    with pytest.raises(ValueError, match="pdq"):
        HashDatabase.load(path)


def test_database_file_holds_only_hashes_and_labels(tmp_path: Path) -> None:
    """Nothing image-like is persisted: each entry is exactly the five documented fields."""
    path = tmp_path / "db.json"
    db = HashDatabase()
    for sample in generate(seed=5, count=2):
        db.add(sample.pdq, label=sample.label)
    db.save(path)
    document = json.loads(path.read_text())
    assert path.stat().st_size < 1024
    for entry in document["entries"]:
        assert set(entry) == {"match_id", "pdq", "source", "violations", "label"}
        assert len(entry["pdq"]) == 64


def test_packaged_database_is_what_the_generator_makes() -> None:
    """The shipped hashes and the generator must not drift apart (regenerate with
    ``hashgate simulator generate-samples --out hashgate_tools/simulator/data/known
    --db hashgate_tools/simulator/data/known_hashes.json``)."""
    shipped = HashDatabase.load(packaged_db_path()).entries
    generated = generate()
    assert [e.label for e in shipped] == [s.label for s in generated]
    assert [e.pdq for e in shipped] == [s.pdq.hex for s in generated]
    for sample in generated:
        assert (packaged_db_path().parent / "known" / sample.name).is_file()
