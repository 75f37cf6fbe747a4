"""Synonym folding: the classes (WordNet's, joined by usage) that near-duplicate word sets read words through."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys

import pytest

from safety import near_duplicates, synonyms
from safety.near_duplicates import word_set
from safety.text import words


@pytest.mark.parametrize(
    "group",
    [
        ["buy", "purchase", "bought", "purchased"],
        ["huge", "massive", "enormous", "vast"],
        ["car", "automobile", "cars", "motorcar"],
        ["movie", "film", "films"],
        ["start", "begin", "commence", "began"],
        ["beautiful", "lovely", "gorgeous"],
    ],
)
def test_synonyms_and_their_inflections_fold_to_one_word(group):
    assert len({synonyms.fold_word(word) for word in group}) == 1


@pytest.mark.parametrize(
    "group",
    [
        ["email", "mail", "inbox"],
        ["everyone", "everybody"],
        ["phone", "smartphone", "iphone"],
        ["bitcoin", "cryptocurrency"],
        ["laptop", "computer"],
    ],
)
def test_words_used_alike_fold_to_one_word(group):
    """Joined by the sentence model's neighbours (scripts/usage_word_classes.py), not by WordNet."""
    assert len({synonyms.fold_word(word) for word in group}) == 1


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("cat", "dog"),
        ("python", "java"),
        ("car", "movie"),
        ("buy", "sell"),
        ("money", "time"),
        ("cheap", "expensive"),
        ("win", "lose"),
        ("good", "bad"),
    ],
)
def test_unrelated_words_stay_apart(one, other):
    assert synonyms.fold_word(one) != synonyms.fold_word(other)


@pytest.mark.parametrize("word", ["0", "42", "the", "you", "my", "and", "usdc", "chatr", "🚀", "ｂａｄ"])
def test_numbers_function_words_unknown_words_and_emoji_read_as_written(word):
    assert synonyms.fold_word(word) == word


def test_a_synonym_swapped_variant_has_the_same_word_set():
    first = "A beautiful huge car for a fast buyer, home included 🚀"
    second = "A gorgeous enormous automobile for a quick buyer, residence included!!"
    as_written = [set(words(text)) for text in (first, second)]
    shared, union = as_written[0] & as_written[1], as_written[0] | as_written[1]
    assert len(shared) / len(union) == 4 / 14  # below the lowest similarity a rule may ask (0.3)
    assert word_set(first) == word_set(second)
    assert word_set("Earn 7 tokens now with my simple trick 🚀") == word_set("Earn 900 tokens now with my simple trick")


def test_the_file_carries_wordnets_licence_and_lists_each_word_once():
    with gzip.open(synonyms.PATH, "rt", encoding="ascii") as file:
        lines = file.read().splitlines()
    header = "\n".join(line for line in lines if line.startswith("#"))
    assert "WordNet 3.0 Copyright 2006 by Princeton University" in header
    assert "all-MiniLM-L6-v2" in header and "Apache License, Version 2.0" in header
    assert "wordfreq" in header and "CC BY-SA 4.0" in header
    listed = [word for line in lines if not line.startswith("#") for word in line.split()]
    assert len(listed) == len(set(listed))


def test_the_redis_keys_name_the_synonym_file():
    """Processes folding with different files must not compare their texts: the key prefix says which file."""
    index = near_duplicates.RedisIndex(rows=1, window_seconds=60, url="redis://127.0.0.1:1/0", timeouts={})
    assert len(synonyms.version()) == 8
    assert index._keys("lobby", word_set("one two three four five"))[0].startswith(f"chatr:nd:{synonyms.version()}:")


def test_the_server_reads_the_file_before_it_serves():
    """No request pays for reading the classes: loading the ASGI application (what uvicorn serves) reads them."""
    code = (
        "from safety import synonyms; assert synonyms._load.cache_info().currsize == 0; import chatr.asgi; "
        "print(synonyms._load.cache_info().currsize)"
    )
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "chatr.settings"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment, check=True)
    assert done.stdout.strip() == "1"
