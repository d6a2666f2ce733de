"""Bank matching through threatexchange: exact hashes, PDQ within the threshold, the switches."""

from __future__ import annotations

import hashlib
import io
import random

import pytest
from PIL import Image

from streams.savers.bank_index import BankIndex
from streams.savers.bank_records import BankEntry, BankSettings, SignalKind

pytest.importorskip("threatexchange")


def png(seed: int = 7, *, shade: int = 0) -> bytes:
    """A noisy picture PDQ hashes with full quality; ``shade`` brightens it a little."""
    rng = random.Random(seed)
    image = Image.new("RGB", (128, 128))
    image.putdata(
        [
            tuple(min(255, rng.randrange(256) // 2 + x + shade) for _ in range(3))
            for x in range(128)
            for _ in range(128)
        ]
    )
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def pdq_of(data: bytes) -> str:
    from threatexchange.signal_type.pdq.signal import PdqSignal

    return PdqSignal.hash_from_bytes(data)


def entry(signal: SignalKind, digest: str, *, bank: str = "own", entry_id: str = "e1") -> BankEntry:
    return BankEntry(bank=bank, entry_id=entry_id, signal=signal, hash=digest)


def index_of(*records: BankEntry | BankSettings, threshold: int = 31) -> BankIndex:
    index = BankIndex(pdq_threshold=threshold)
    for record in records:
        index.apply(record.key, record.encode())
    return index


@pytest.mark.parametrize(
    ("signal", "digest"),
    [
        (SignalKind.SHA256, hashlib.sha256(b"abc").hexdigest()),
        (SignalKind.MD5, hashlib.md5(b"abc").hexdigest()),
    ],
)
def test_exact_hashes_match_only_the_same_bytes(signal: SignalKind, digest: str) -> None:
    index = index_of(entry(signal, digest))
    (found,) = index.lookup(b"abc")
    assert (found.bank, found.entry_id, found.signal, found.distance) == (
        "own",
        "e1",
        signal.value,
        None,
    )
    assert index.lookup(b"abd") == []


def test_pdq_matches_a_near_copy_within_the_threshold_only() -> None:
    original, brighter = png(), png(shade=6)
    index = index_of(entry(SignalKind.PDQ, pdq_of(original)))
    (found,) = index.lookup(brighter)
    assert found.signal == "pdq" and found.distance is not None and found.distance <= 31
    assert index.lookup(png(seed=99)) == []
    strict = index_of(entry(SignalKind.PDQ, pdq_of(original)), threshold=0)
    assert [m.distance for m in strict.lookup(original)] == [0]
    if found.distance > 0:
        assert strict.lookup(brighter) == []


def test_a_bank_says_whether_its_matches_are_reported() -> None:
    csam = BankSettings(name="ncmec", report_to_ncmec=True)
    index = index_of(csam, entry(SignalKind.SHA256, hashlib.sha256(b"x").hexdigest(), bank="ncmec"))
    assert [m.report_to_ncmec for m in index.lookup(b"x")] == [True]
    own = index_of(entry(SignalKind.SHA256, hashlib.sha256(b"x").hexdigest()))
    assert [m.report_to_ncmec for m in own.lookup(b"x")] == [False]
    assert own.settings_of("own") == BankSettings(name="own")


def test_disabled_entries_and_banks_stop_matching_and_tombstones_remove() -> None:
    digest = hashlib.sha256(b"x").hexdigest()
    live = entry(SignalKind.SHA256, digest)
    index = index_of(live)
    assert len(index.lookup(b"x")) == 1
    index.apply(live.key, live.model_copy(update={"enabled": False}).encode())
    assert index.lookup(b"x") == []
    index.apply(live.key, live.encode())
    off = BankSettings(name="own", enabled=False)
    index.apply(off.key, off.encode())
    assert index.lookup(b"x") == []
    index.apply(off.key, None)
    assert len(index.lookup(b"x")) == 1
    index.apply(live.key, None)
    assert index.lookup(b"x") == [] and len(index) == 0


def test_a_record_that_is_not_a_bank_or_entry_is_ignored() -> None:
    index = index_of(entry(SignalKind.SHA256, hashlib.sha256(b"x").hexdigest()))
    index.apply(b"entry:own:e2", b"{not json")
    assert len(index) == 1 and len(index.lookup(b"x")) == 1


def test_an_image_pdq_cannot_decode_still_meets_the_exact_hashes() -> None:
    data = b"not an image"
    index = index_of(
        entry(SignalKind.PDQ, pdq_of(png()), entry_id="p1"),
        entry(SignalKind.SHA256, hashlib.sha256(data).hexdigest(), entry_id="s1"),
    )
    assert [m.entry_id for m in index.lookup(data)] == ["s1"]
