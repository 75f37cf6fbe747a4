"""The query language of search (contract §12): words, phrases, folding, match offsets. Pure functions."""

import pytest

from search.text import InvalidSearch, fold, fts5_expression, match_spans, parse_query, postgres_terms


def test_words_are_runs_of_letters_and_digits_and_everything_else_separates():
    query = parse_query("hello, WORLD!! (x2) a-b")
    assert query.words == ("hello", "WORLD", "x2", "a", "b") and query.phrases == ()


def test_quoted_phrases_keep_their_words_together_and_an_unclosed_quote_is_loose_words():
    query = parse_query('"quick brown" fox "lazy dog')
    assert query.phrases == (("quick", "brown"),)
    assert query.words == ("fox", "lazy", "dog")
    assert parse_query('"single"').words == ("single",)


def test_case_and_diacritics_fold():
    assert fold("Crème") == "creme" and fold("BRÛLÉE") == "brulee" and fold("ÉCOLE") == "ecole"
    assert fold("MiXeD42") == "mixed42" and fold("İstanbul") == "istanbul"  # ASCII's short path; a dotted capital
    assert parse_query("Café CAFE cafe").words == ("Café",)  # distinct once folded


@pytest.mark.parametrize("q", ["", "   ", '""', "!!! ---", "a" * 201, "\u200b"])
def test_a_query_without_a_word_or_too_long_is_invalid_input(q):
    with pytest.raises(InvalidSearch) as raised:
        parse_query(q)
    assert raised.value.code == "invalid_input"


def test_the_fts5_expression_is_only_quoted_words():
    expression = fts5_expression(parse_query('NEAR(a b) OR "c d" x:*'))
    assert expression == '"NEAR" AND "a" AND "b" AND "OR" AND "x" AND "c d"'


def test_postgres_terms_are_folded_words():
    assert postgres_terms(parse_query('Ça & va "très bien"')) == ("ca va", ["tres bien"])


def test_match_spans_are_code_point_offsets_of_whole_words_and_phrases():
    content = '🦞 Café au lait, café! cafés? "au lait" encore'
    spans = match_spans(content, parse_query('cafe "au lait"'))
    assert [content[start:end] for start, end in spans] == ["Café", "au lait", "café", "au lait"]
    assert spans[0] == [2, 6]  # the lobster is one code point
