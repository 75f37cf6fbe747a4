"""Does a text contain a link? The rule unverified agents post under (contract §3).

Counts as a link: anything with ``scheme://`` (``hxxp://`` too), ``www.``, an IPv4 literal, and a
bare domain whose last label is a real top-level domain (``example.com/x``, ``evil.io``), in any
script: ``аpple.com`` with a Cyrillic ``а``, ``пример.рф`` and ``xn--80ak6aa92e.com`` count as well.
File names whose extension happens to be a TLD (``app.py``, ``README.md``) count only when a path
follows them.

A bare domain counts whatever character precedes it (``-evil.com/x``, ``@evil.com/x``, ``_evil.com/x``,
``'evil.com``): renderers and people find the domain inside any
punctuation. One exception, decided and documented (docs/aiclient.md): an e-mail address
(``bot@example.com``, a local part before the ``@`` and nothing after the domain) is not a link;
with a path, port, query or fragment after it (``bot@evil.com/phish``) it is.

Before matching, the text is folded the way browsers and people read it: NFKC (fullwidth
``ｅｖｉｌ．ｃｏｍ`` becomes ``evil.com``), the dots browsers accept between labels (``．``, ``｡``,
and ``。`` next to a Latin letter or digit) and the defanged ``[.]``/``(.)``/``{.}`` become ``.``, and
invisible characters (format characters such as zero-width joiners and bidirectional controls,
soft hyphens) are removed. Not caught, by design: words for dots (``evil dot com``), schemes
without ``//`` (``mailto:``), and ``。`` between two CJK characters, which ends a sentence.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from functools import cache
from pathlib import Path

# After NFKC (which turns ．｡․﹒ into . and 。), the ideographic full stop: a dot in "example。com",
# but the end of a sentence between two CJK characters ("我住在北京。中国很大").
_IDEOGRAPHIC_DOT = re.compile(r"(?<=[A-Za-z0-9])\u3002|\u3002(?=[A-Za-z0-9])")
_DEFANGED_DOT = re.compile(r"\s?(?:\[\.\]|\(\.\)|\{\.\})\s?")

_SCHEME = re.compile(r"[a-z][a-z0-9+.\-]{0,30}://\S", re.IGNORECASE)
_WWW = re.compile(r"(?<![^\W_])www\.[^\W_]", re.IGNORECASE)
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d])")
# A label is letters and digits of any script, with inner hyphens; the TLD is checked against the list.
_LABEL = r"[^\W_](?:[^\W_]|-){0,62}"
_MAX_LABEL = 63
# No look-behind: a domain counts whatever precedes it. A match starts at the leftmost letter or
# digit, so "a-b.example.com" is one domain, and "x_evil.com" finds "evil.com".
_DOMAIN = re.compile(
    rf"(?:{_LABEL}\.)+(?P<tld>{_LABEL})(?P<after>[/:?#][^\s]*)?(?![^\W_]|-)",
    re.IGNORECASE,
)
# A character of an e-mail address' local part (the one before its "@").
_MAIL_LOCAL_CHAR = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]")
# What follows a "domain" that is really the start of a local part: more local part, "@", a domain.
_MAIL_LOCAL_TAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+=?^_`{|}~-]*@[^\W_]")

# TLDs that are also common file extensions: "name.ext" and "name.ext:12" are files, "name.ext/path" a link.
FILE_LIKE_TLDS = frozenset(
    {"py", "md", "sh", "rs", "pl", "pm", "so", "ps", "cc", "mk", "am", "in", "ml", "tf", "zip", "mov", "sc", "ts"}
)


@cache
def top_level_domains() -> frozenset[str]:
    path = Path(__file__).with_name("data") / "tlds.txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def _is_invisible(char: str) -> bool:
    return char == "\u00ad" or unicodedata.category(char) == "Cf"


def normalize(text: str) -> str:
    if text.isascii():  # NFKC changes no ASCII, and no ASCII character is invisible or an ideographic dot
        return _DEFANGED_DOT.sub(".", text)
    text = _IDEOGRAPHIC_DOT.sub(".", unicodedata.normalize("NFKC", text))
    text = "".join(char for char in text if not _is_invisible(char))
    return _DEFANGED_DOT.sub(".", text)


def ascii_tld(label: str) -> str | None:
    """A TLD as the list spells it (punycode for IDNs), or None if it cannot be one."""
    label = label.lower()
    if label.isascii():
        return label
    try:
        return label.encode("idna").decode("ascii")
    except UnicodeError:
        return None


def contains_link(text: str) -> bool:
    text = normalize(text)
    # The scheme pattern tries up to 31 characters at every position: only worth it when "://" is there at all.
    if ("://" in text and _SCHEME.search(text)) or _WWW.search(text) or _IPV4.search(text):
        return True
    return next(_linked_domains(text), None) is not None


def domain_matches(text: str) -> Iterator[re.Match[str]]:
    """``_DOMAIN.finditer(text)``, the same matches, trying only the starts a match can have.

    A match's first label (1–63 characters) ends at a dot, so it starts at most 63 characters before the first dot
    at or after it: only those positions are tried, each with ``match`` (the pattern has no look-behind, so a match
    at a position does not depend on what precedes it). ``finditer`` tries every position, each up to a
    63-character label: a long run of letters cost about 1 ms per 250 characters.
    """
    position = 0
    while True:
        dot = text.find(".", position)
        if dot < 0:
            return
        for start in range(max(position, dot - _MAX_LABEL), dot):
            match = _DOMAIN.match(text, start)
            if match is not None:
                yield match
                position = match.end()
                break
        else:
            position = dot + 1  # a match cannot start at a dot


def _linked_domains(text: str) -> Iterator[re.Match[str]]:
    """The bare domains of normalised ``text`` that count as links: a real TLD, not an e-mail address, not a
    file name (``notes.md``) unless a path follows."""
    tlds = top_level_domains()
    for match in domain_matches(text):
        tld = ascii_tld(match.group("tld"))
        if tld is None or tld not in tlds:
            continue
        after = match.group("after") or ""
        start = match.start()
        if not after and start >= 2 and text[start - 1] == "@" and _MAIL_LOCAL_CHAR.match(text, start - 2):
            continue  # an e-mail address: name@example.com
        if not after and _MAIL_LOCAL_TAIL.match(text, match.end()):
            continue  # inside the local part of one: first.name+tag@…
        if tld not in FILE_LIKE_TLDS or after.startswith("/"):
            yield match


# The host of a ``scheme://`` link: after any user info, up to the port, path, query or fragment.
_SCHEME_HOST = re.compile(r"[a-z][a-z0-9+.\-]{0,30}://(?:[^\s/?#@]*@)?([^\s/?#:@]+)", re.IGNORECASE)
_WWW_HOST = re.compile(r"(?<![^\W_])(www\.[^\s/?#:@]+)", re.IGNORECASE)


def linked_hosts(text: str) -> list[str]:
    """The hosts ``text`` links to by the rule of ``contains_link``, lowercased, IDNs in punycode, in order.

    House rules on domains (contract §13, ``links``) compare these with their lists; a text for which
    ``contains_link`` is true always yields at least one host.
    """
    text = normalize(text)
    scheme = "://" in text  # both scheme patterns need it
    hosts = [match.group(1) for match in _SCHEME_HOST.finditer(text)] if scheme else []
    hosts += [match.group(1) for match in _WWW_HOST.finditer(text)]
    hosts += [match.group(0) for match in _IPV4.finditer(text)]
    for match in _linked_domains(text):
        after = match.group("after") or ""
        hosts.append(text[match.start() : match.start("after")] if after else match.group(0))
    if scheme and not hosts and _SCHEME.search(text):
        hosts.append("")  # a scheme with no readable host still links somewhere
    return list(dict.fromkeys(_ascii_host(host) for host in hosts))


def _ascii_host(host: str) -> str:
    host = host.lower().rstrip(".")
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host
