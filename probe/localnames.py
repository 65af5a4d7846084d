"""Names this host answers itself: RFC 6761's special names and /etc/hosts.

apim-probe asks DNS servers directly, because APIM does: a name APIM uses
must resolve through the VNet's DNS, whatever this host's resolver library
would do. Two kinds of name are still this host's business:

* **RFC 6761 special names** never go to a DNS server. ``localhost`` and
  every name under ``.localhost`` are loopback (127.0.0.1, and ::1 when AAAA
  is asked); every name under ``.invalid`` does not exist. They are answered
  locally, the same on every resolver, and a ``localhost`` target is probed
  on loopback (it is the user's word, as a typed address is).
* **/etc/hosts** is what curl, ping and a browser on this host see before any
  DNS server. A name pinned there is still probed as DNS answers it (that is
  what APIM gets); the diagnosis says when the pin differs (finding
  ``hosts-file-pin``), the classic "works from the jump box, not from APIM".
  ``resolvers = ["hosts"]`` selects the hosts file as a resolver of its own.

Parsing is pure (``parse_hosts``); ``read_hosts`` reads one bounded regular
file through ``probe.files``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from probe.errors import InputError
from probe.files import CONFIG_LIMIT, read_regular_file

HOSTS = "hosts"  # the resolver that is the hosts file: ``resolvers = ["hosts"]``, its label
HOSTS_FILE = Path("/etc/hosts")
HOSTS_LIMIT = CONFIG_LIMIT  # 1 MiB; ad-block hosts files run to a few MiB: refused, said why

LOOPBACK = ("127.0.0.1", "::1")


@dataclass(frozen=True, slots=True)
class LocalAnswer:
    """What this host answers for a special name, without asking anyone."""

    addresses: tuple[str, ...]  # empty: the name does not exist
    detail: str


def _plain(name: str) -> str:
    return name.rstrip(".").lower()


def is_localhost(name: str) -> bool:
    """``localhost`` or a name under it (RFC 6761 section 6.3)."""
    plain = _plain(name)
    return plain == "localhost" or plain.endswith(".localhost")


def special_answer(name: str, *, aaaa: bool = False) -> LocalAnswer | None:
    """Pure: the local answer to an RFC 6761 special name, or None for any other.

    ``localhost`` names are loopback; ``.invalid`` names do not exist. The
    other special-use names (``test``, ``example``) are ordinary names to
    resolvers (RFC 6761 sections 6.2 and 6.5) and go to DNS as any other.
    """
    plain = _plain(name)
    if is_localhost(plain):
        return LocalAnswer(LOOPBACK if aaaa else LOOPBACK[:1],
                           "answered locally, not asked: localhost names are loopback "
                           "(RFC 6761)")
    if plain == "invalid" or plain.endswith(".invalid"):
        return LocalAnswer((), "answered locally, not asked: .invalid names never exist "
                               "(RFC 6761)")
    return None


def parse_hosts(text: str) -> Mapping[str, tuple[str, ...]]:
    """Pure: name -> addresses, in file order, as glibc reads a hosts file.

    Each line is an address, then its names; ``#`` starts a comment. A line
    whose first field is not an IP address is skipped, as glibc skips it (a
    broken line must not hide the others). Names are case-insensitive and a
    name listed on several lines has every address of them, the first first.
    A scope suffix (``fe80::1%eth0``) is kept off the address.
    """
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) < 2:
            continue
        try:
            address = str(ipaddress.ip_address(fields[0].split("%", 1)[0]))
        except ValueError:
            continue
        for name in fields[1:]:
            held = found.setdefault(_plain(name), [])
            if address not in held:
                held.append(address)
    return MappingProxyType({name: tuple(held) for name, held in found.items()})


def read_hosts(path: Path | str = HOSTS_FILE) -> Mapping[str, tuple[str, ...]]:
    """The hosts file's names; an ``InputError`` saying why when it cannot be read.

    Bytes that are not UTF-8 are replaced: a stray Latin-1 comment must not
    hide every pin (names and addresses are ASCII anyway).
    """
    data = read_regular_file(path, HOSTS_LIMIT, error=InputError)
    return parse_hosts(data.decode("utf-8", errors="replace"))


def pinned(names: list[str] | tuple[str, ...], hosts: Mapping[str, tuple[str, ...]],
           ) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Pure: the names of ``names`` the hosts file lists, with their addresses
    (special names excepted: localhost is in every hosts file, and rightly)."""
    return tuple((name, hosts[_plain(name)]) for name in dict.fromkeys(names)
                 if _plain(name) in hosts and special_answer(name) is None)
