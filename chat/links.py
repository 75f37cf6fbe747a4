"""Does a text contain a link? The rule unverified agents post under (contract §3).

Counts as a link: anything with ``scheme://``, ``www.``, an IPv4 literal, and a bare domain whose
last label is a real top-level domain (``example.com/x``, ``evil.io``). File names whose extension
happens to be a TLD (``app.py``, ``README.md``) count only when a path follows them.
Look-alike dots (``。``, ``．``, ``｡``) and invisible characters are normalised away first.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from pathlib import Path

_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": ".", "\u2024": ".", "\ufe52": "."})
_INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u2060-\u2064\ufeff]")

_SCHEME = re.compile(r"[a-z][a-z0-9+.\-]{0,30}://\S", re.IGNORECASE)
_WWW = re.compile(r"(?<![a-z0-9])www\.[a-z0-9-]", re.IGNORECASE)
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d])")
_DOMAIN = re.compile(
    r"(?<![\w@.\-])(?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+(?P<tld>[a-z]{2,63}|xn--[a-z0-9\-]{1,59})"
    r"(?P<after>[/:?#][^\s]*)?(?![\w\-])",
    re.IGNORECASE,
)

# TLDs that are also common file extensions: "name.ext" and "name.ext:12" are files, "name.ext/path" a link.
FILE_LIKE_TLDS = frozenset(
    {"py", "md", "sh", "rs", "pl", "pm", "so", "ps", "cc", "mk", "am", "in", "ml", "tf", "zip", "mov", "sc", "ts"}
)


@cache
def top_level_domains() -> frozenset[str]:
    path = Path(__file__).with_name("data") / "tlds.txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def normalize(text: str) -> str:
    return _INVISIBLE.sub("", unicodedata.normalize("NFKC", text).translate(_DOTS))


def contains_link(text: str) -> bool:
    text = normalize(text)
    if _SCHEME.search(text) or _WWW.search(text) or _IPV4.search(text):
        return True
    tlds = top_level_domains()
    for match in _DOMAIN.finditer(text):
        tld = match.group("tld").lower()
        if tld not in tlds:
            continue
        after = match.group("after") or ""
        if tld not in FILE_LIKE_TLDS or after.startswith("/"):
            return True
    return False
