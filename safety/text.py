"""How house rules read a post: folded for comparison (terms, near-duplicates) and cut into words.

Folding: Unicode NFKC (fullwidth and compatibility forms become plain ones), case folding, diacritics
stripped (``café`` reads as ``cafe``), and characters that render as nothing removed (``b\u200bad`` reads
as ``bad``). A word is a run of letters and digits of any script; everything else separates words, so
comparisons are word-bounded: ``bad`` is a word of "that is bad!" but not of "badge".
"""

from __future__ import annotations

import re
import unicodedata

# Letters that are drawn blank (contract §1) without being format characters.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
_WORD = re.compile(r"[^\W_]+")


def fold(text: str) -> str:
    """The text as house rules compare it: NFKC, case folded, no diacritics, nothing invisible."""
    if text.isascii():
        return text.lower()  # all of the above, for ASCII
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).casefold())
    kept = "".join(
        char
        for char in decomposed
        if unicodedata.category(char) not in {"Mn", "Me", "Cf"} and char not in _BLANK_LETTERS
    )
    return unicodedata.normalize("NFC", kept)


def words(text: str) -> list[str]:
    """The words of ``text`` after folding, in order."""
    return _WORD.findall(fold(text))
