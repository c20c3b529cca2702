"""StreetAddressRecognizer's free-text shapes beyond "number + street type": US military mail,
a street and house number followed by the flat, and the line a form labels "Address:"; numbered
things ("Release 4 Suite 2") and network addresses under an "Address:" label stay quiet."""

from __future__ import annotations

import pytest

from analyzer.pii import default_detector


def types_in(text: str) -> set[str]:
    return {t for t, _ in default_detector().detect_value(text)}


@pytest.mark.parametrize(
    "text",
    [
        "Please return to Unit 5146 Box 1772\nDPO AE 91410 in case of an issue.",
        "The office is PSC 7589, Box 0572\nAPO AE 20040",
        "Ship it to USNS Saibara\nFPO AP 12428.",
        "it is 91211 Koepenicker Str. 74 Suite 980 Reichenbach",
        "send it to Via Roma 131 Apt. 12, please",
        "Name: Abby Laidlaw\nAddress:     03555 Vicolo Calcirelli 13, Valderice",
        "Home address: 4 Rua Mina, Lisboa",
    ],
)
def test_addresses_in_free_text(text: str) -> None:
    assert "LOCATION" in types_in(text)


@pytest.mark.parametrize(
    "text",
    [
        "Release 4 Suite 2 is out",
        "Test Suite 5 passed",
        "Chapter 3 Section 2 Flat 1",
        "Address: 10.0.0.7:8080",
        "Address: fe80::1:2:3",
        "Address: http://example.com/x1",
        "MAC address: 00:1a:2b:3c:4d:5e",
        "the APO endpoint returned 500",
    ],
)
def test_look_alikes_stay_quiet(text: str) -> None:
    assert "LOCATION" not in types_in(text)
