"""English question words to the Norwegian index terms that translate them, from a compact word list
derived from FreeDict's English-Norwegian dictionary (bench/build_lexicon.py; CC-BY-SA 3.0, see
data/LEXICON-LICENSE). It ships inside the package: a pip install has it, offline.
"""

from __future__ import annotations

import gzip
import re
from functools import lru_cache
from pathlib import Path

LEXICON_PATH = Path(__file__).parent / "data" / "lexicon-en-nb.tsv.gz"

_WORDS = re.compile(r"[^\W\d_]+")
# English words that carry no topic: they would only add common Norwegian words to the question.
_STOP = frozenset(
    """
    a an and are as at be been being but by can could did do does doing done for from had has have having he her
    hers him his how i if in into is it its itself me my no nor not of off on once only or other our out over own
    same she should so some such than that the their them then there these they this those through to too under
    until up very was we were what when where which while who whom whose why will with would you your
    about after against before between many also there here
    """.split()
)


# English forms the stemmer leaves apart from their base word: past tenses and plurals.
_IRREGULAR = {
    form: base
    for base, forms in (
        line.split(":")
        for line in """
    arise:arose arisen;begin:began begun;break:broke broken;bring:brought;build:built;buy:bought;catch:caught;
    choose:chose chosen;come:came;deal:dealt;draw:drew drawn;drink:drank drunk;drive:drove driven;eat:ate eaten;
    fall:fell fallen;feel:felt;fight:fought;find:found;flee:fled;fly:flew flown;forget:forgot forgotten;
    freeze:froze frozen;give:gave given;grow:grew grown;hear:heard;hide:hid hidden;hold:held;keep:kept;
    know:knew known;lead:led;lend:lent;lose:lost;mean:meant;meet:met;pay:paid;run:ran;rise:rose risen;sell:sold;
    send:sent;shoot:shot;sing:sang sung;sink:sank sunk;sit:sat;sleep:slept;speak:spoke spoken;spend:spent;
    stand:stood;steal:stole stolen;strike:struck;swear:swore sworn;swim:swam swum;take:took taken;teach:taught;
    tear:tore torn;think:thought;throw:threw thrown;understand:understood;wake:woke woken;wear:wore worn;win:won;
    write:wrote written;child:children;man:men;woman:women;foot:feet;tooth:teeth;die:died
    """.replace("\n", "").split(";")
        if line.strip()
    )
    for form in forms.split()
}


@lru_cache(maxsize=1)
def _english_stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def english_key(words: list[str]) -> str:
    """The lexicon key of one or two lower-cased English words ("" when a word is a stop word)."""
    if any(w in _STOP for w in words):
        return ""
    return " ".join(_english_stemmer().stemWords([_IRREGULAR.get(w, w) for w in words]))


@lru_cache(maxsize=1)
def load_lexicon(path: Path = LEXICON_PATH) -> dict[str, tuple[str, ...]]:
    """English key -> its translations, each the Norwegian index terms of one word joined by "/" (a verb's
    infinitive, then its past forms); read once."""
    out = {}
    for line in gzip.decompress(path.read_bytes()).decode("utf-8").splitlines():
        key, _, terms = line.partition("\t")
        out[key] = tuple(terms.split())
    return out


def translate(text: str) -> list[tuple[str, ...]]:
    """For each English word (or two-word phrase, preferred) of `text` found in the lexicon, its
    translations (see `load_lexicon`); a word found in no entry gives nothing."""
    return [group for _, group in translate_spans(text)]


def translate_spans(text: str) -> list[tuple[tuple[int, int], tuple[str, ...]]]:
    """`translate`, each group with the span of words it translates ([start, end) word positions)."""
    lexicon = load_lexicon()
    written = _WORDS.findall(text)
    words = [w.lower() for w in written]
    out, i = [], 0
    while i < len(words):
        pair = english_key(words[i : i + 2]) if i + 1 < len(words) else ""
        if pair and pair in lexicon:
            out.append(((i, i + 2), lexicon[pair]))
            i += 2
            continue
        # An acronym has its own entry where it would read as a stop word lower-cased ("US", not "us").
        acronym = written[i] if len(written[i]) > 1 and written[i].isupper() and written[i] in lexicon else ""
        single = acronym or english_key(words[i : i + 1])
        if single in lexicon:
            out.append(((i, i + 1), lexicon[single]))
        i += 1
    return out


# A Norwegian compound joins its parts directly or with a linking "s" or "e" ("skatteliste", "arbeidsuke").
_LINKS = ("", "s", "e")


def compounds(text: str, spans: list[tuple[tuple[int, int], tuple[str, ...]]] | None = None) -> list[tuple[str, ...]]:
    """For each two neighbouring English words that both translate ("tax lists", "working week"), the
    Norwegian compounds their translations could make: first part, link, then the last part's index term
    ("skattelist", "arbeidsuk"). Most are no word: only a search that keeps the terms an index holds may use
    them (`expansion.translations`). `spans`: `translate_spans(text)`, when the caller has it already."""
    spans = translate_spans(text) if spans is None else spans
    out = []
    for (first_span, first), (second_span, second) in zip(spans, spans[1:]):
        if first_span[1] != second_span[0]:
            continue
        lefts = [t.split("/")[0] for t in first]
        rights = [f for t in second for f in t.split("/")]
        found = tuple(dict.fromkeys(left + link + right for left in lefts for link in _LINKS for right in rights))
        if found:
            out.append(found)
    return out
