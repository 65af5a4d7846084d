"""probe.addresses: hostnames are matched whole, a trailing newline included."""

from __future__ import annotations

import pytest

from probe.addresses import is_hostname, is_ip, is_prefix


@pytest.mark.parametrize("text", ["contoso.azure-api.net", "contoso.azure-api.net.", "h",
                                  "xn--bcher-kva.example", "_dmarc.example"])
def test_hostnames(text: str) -> None:
    assert is_hostname(text)


@pytest.mark.parametrize("text", ["host\n", "host\r", "\nhost", "ho st", "host\x00",
                                  "bücher.example", "a..b", "-a.b", "1.2.3.4", "",
                                  "a" * 64 + ".example", ".".join(["a" * 63] * 5)])
def test_not_hostnames(text: str) -> None:
    assert not is_hostname(text)


@pytest.mark.parametrize("text", ["1.2.3.4\n", " 1.2.3.4", "1.2.3.4 "])
def test_addresses_with_whitespace_are_not_addresses(text: str) -> None:
    assert not is_ip(text)


def test_prefix() -> None:
    assert is_prefix("10.0.0.0/8") and is_prefix("10.0.0.1/8") and is_prefix("2001:db8::/32")
    assert not is_prefix("10.0.0.0/33")
