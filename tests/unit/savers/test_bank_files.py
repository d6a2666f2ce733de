"""Bank files in hashgate's CSV, HMA's and ThreatExchange's export formats."""

from __future__ import annotations

import hashlib
import json

import pytest

from streams.savers.bank_files import BankFileError, BankFormat, read_entries
from streams.savers.bank_records import SignalKind

PDQ = "f" * 64
MD5 = hashlib.md5(b"x").hexdigest()
SHA = hashlib.sha256(b"x").hexdigest()


def test_csv_with_and_without_ids() -> None:
    text = f"signal,hash,id\npdq,{PDQ},case-1\nmd5,{MD5.upper()},\n"
    first, second = read_entries(text, "own", BankFormat.CSV)
    assert (first.entry_id, first.signal, first.hash) == ("case-1", SignalKind.PDQ, PDQ)
    assert (second.signal, second.hash) == (SignalKind.MD5, MD5)
    again = read_entries(text, "own", BankFormat.CSV)[1]
    assert second.entry_id == again.entry_id  # importing twice adds nothing


def test_hma_bank_content_as_a_list_or_lines() -> None:
    items = [
        {"id": 12, "enabled": True, "signals": {"pdq": PDQ, "video_md5": MD5}},
        {"id": 13, "enabled": False, "signals": {"pdq": PDQ}},
    ]
    for text in (json.dumps(items), "\n".join(json.dumps(i) for i in items)):
        entries = read_entries(text, "hma", BankFormat.HMA)
        assert [(e.entry_id, e.signal) for e in entries] == [
            ("12-pdq", SignalKind.PDQ),
            ("12-video_md5", SignalKind.MD5),
        ]


def test_threatexchange_dataset_csv_and_plain_lines() -> None:
    dataset = f"signal_type,signal_str,collab,category,tags\npdq,{PDQ},c,ADVERSARIAL,\n"
    plain = f"video_sha256 {SHA}\n\npdq {PDQ}\n"
    assert [e.signal for e in read_entries(dataset, "te", BankFormat.THREATEXCHANGE)] == [
        SignalKind.PDQ
    ]
    assert [e.signal for e in read_entries(plain, "te", BankFormat.THREATEXCHANGE)] == [
        SignalKind.SHA256,
        SignalKind.PDQ,
    ]


@pytest.mark.parametrize(
    ("text", "file_format", "message"),
    [
        ("sig,hash\n", BankFormat.CSV, "line 1: a CSV bank needs"),
        (f"signal,hash\nphash,{PDQ}\n", BankFormat.CSV, "line 2: unknown signal type 'phash'"),
        ("signal,hash\npdq,not-hex\n", BankFormat.CSV, "line 2:"),
        ("[{", BankFormat.HMA, "not HMA bank content JSON"),
        ('[{"id": 1}]', BankFormat.HMA, "item 1: no signals"),
        ("pdq\n", BankFormat.THREATEXCHANGE, "line 1: expected"),
    ],
)
def test_an_unreadable_row_stops_the_import_naming_it(
    text: str, file_format: BankFormat, message: str
) -> None:
    with pytest.raises(BankFileError, match=message):
        read_entries(text, "own", file_format)
