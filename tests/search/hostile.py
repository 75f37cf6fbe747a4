"""Search queries meant to break a full-text backend's query syntax (FTS5's and tsquery's), and a seeded
generator of more; every one must answer a clean 200 or a 400 ``invalid_input``, never a 500."""

from __future__ import annotations

import random

HOSTILE_QUERIES = [
    # FTS5 syntax: operators, columns, NEAR, prefixes, initial-token, quotes, parentheses.
    'hello" OR "world',
    "hello OR world",
    "hello AND NOT world",
    "NOT hello",
    "hello NOT",
    "AND",
    "OR",
    "NOT",
    "NEAR(hello world, 2)",
    "NEAR(",
    "content:hello",
    "{content}: hello",
    "- hello",
    "hello*",
    "*",
    "^hello",
    "hello + world",
    '"',
    '""',
    '"""',
    '" "',
    '"hello',
    'hello"',
    '"a" "b" "',
    "(hello",
    "hello)",
    "()",
    ")(",
    "rowid:1",
    "chat_message_fts:hello",
    "'",
    "''",
    "hello'world",
    "a'b\"c",
    # tsquery syntax: &, |, !, <->, <N>, :*, weights, parentheses.
    "hello & world",
    "hello | world",
    "!hello",
    "hello <-> world",
    "hello <2> world",
    "hello:*",
    "hello:AB",
    "!!",
    "&|!",
    "<->",
    "(a & b) | !c",
    "'a' & 'b'",
    "\\",
    "\\'",
    "$$",
    "E'\\x00'",
    # SQL-looking input.
    "'; DROP TABLE chat_message; --",
    '" ; SELECT 1; --',
    "%",
    "_",
    "%_%",
    "1=1",
    # Unicode: emoji, combining marks, RTL, zero-width, fullwidth, ligatures, CJK, Greek, long words.
    "🦞",
    "🦞🦞 lobster",
    "e\u0301",
    "\u0301",
    "\u200b",
    "\u200bhello\u200b",
    "\u202ehello",
    "ＡＢＣ",
    "ﬁne",
    "中文 搜索",
    "Ωμέγα",
    "ß STRASSE",
    "İstanbul",
    "a" * 200,
    ("word " * 40).strip(),
    "x" * 199 + "🦞",
    # Whitespace and separators only.
    " ",
    "\t",
    "   \u3000  ",
    "...",
    "@#$%^&*",
    "-_-",
    "🦞",
]

# Too long, or with characters a query string must not carry: 400.
REFUSED_QUERIES = ["a" * 201, "hello\x00world", "\x1b[31mred", ""]

_ALPHABET = [*"abcXYZ09 \"'()*:^-+&|!<>\\{}[],.;@#%_~`", "é", "🦞", "\u0301", "\u200b", "ß", "中", "NEAR", "OR"]


def generated_queries(count: int, *, seed: int = 19) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(_ALPHABET) for _ in range(rng.randint(1, 40))) for _ in range(count)]
