"""Derive the compact English -> Norwegian word list that ships in semsearch/search/data/ from these sources:

- FreeDict's English-Norwegian dictionary (FreeDict + WikDict, CC-BY-SA 3.0), as Debian packages it;
- word pairs aligned from NorQuAD's `train` questions, each asked in English and in Norwegian (CC0): the
  dictionary lacks much of news' vocabulary (leader, party, city, coach) and every inflected form;
- a short hand-written list (CURATED) of common words the dictionary lacks or the stop list hides;
- the past forms of the Norwegian verbs among the translations (strong verbs listed here, weak ones by
  rule), which the Snowball stemmer leaves apart from the infinitive ("kjøpe", "kjøpte", "kjøpt");
- pairs induced from the model's own word vectors (bench/induce_lexicon.py: general English and
  Norwegian dictionary words, no NorQuAD text), for the English words the other sources miss.

    apt-get install dict-freedict-eng-nor   # and bench/induce_lexicon.py's word lists, or --no-induced
    .venv/bin/python bench/build_lexicon.py [--dict /usr/share/dictd/freedict-eng-nor] [--questions FILE] [--no-induced]

Each line of the output is an English key (one or two words, Snowball-English stemmed) and the Norwegian
index terms of its translations (`semsearch.analysis.analyze`: Norwegian-stemmed, stop words out), aligned
ones first, as the search reads them (`search.lexicon`). Keys that are English stop words, and
translations that analyse to nothing, are left out. Validation questions are never read.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from semsearch.analysis import analyze  # noqa: E402
from semsearch.search.lexicon import LEXICON_PATH, english_key  # noqa: E402

FREEDICT = Path("/usr/share/dictd/freedict-eng-nor")
QUESTIONS = ROOT.parent / "shared" / "data" / "norquad-news" / "queries-dev-en.jsonl"
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
HEADER = re.compile(r"^(.*?)\s+(/|<)")
NUMBERED = re.compile(r"^\d+\.\s+")
SENSE_MARK = re.compile(r"\s+\d+\.$")


# Norwegian verbs whose past forms the stemmer cannot bring back to the infinitive's stem: a translation
# "vinne" must also find "vant" and "vunnet". Infinitive, then past forms.
NORWEGIAN_FORMS = """
be ba bad bedt; bli ble blei blitt; bryte brøt brutt; bære bar båret; by bød budt; drikke drakk drukket;
drive drev drevet; dra dro dratt; dø døde dødd; falle falt; finne fant funnet; fly fløy fløyet; flyte fløt;
forsvinne forsvant forsvunnet; forstå forstod forsto forstått; fortelle fortalte fortalt; fryse frøs frosset;
få fikk fått; gi gav ga gitt; gjelde gjaldt; gjøre gjorde gjort; gripe grep grepet; gå gikk gått; ha hadde hatt;
henge hang hengt; hjelpe hjalp hjulpet; holde holdt; kjøpe kjøpte kjøpt; kjøre kjørte kjørt; komme kom kommet;
la lot latt; legge la lagt; ligge lå ligget; løpe løp løpt; møte møtte møtt; rekke rakk rukket; rive rev revet;
se så sett; selge solgte solgt; sette satte satt; si sa sagt; sitte satt sittet; skjære skar skåret;
skrive skrev skrevet; skyte skjøt skutt; slå slo slått; slippe slapp sluppet; sove sov sovet;
springe sprang sprunget; spørre spurte spurt; stige steg steget; stjele stjal stjålet; stå stod sto stått;
synge sang sunget; synke sank sunket; ta tok tatt; tape tapte tapt; treffe traff truffet; trekke trakk trukket;
velge valgte valgt; vinne vant vunnet; vite visste visst; være var vært; bite bet bitt; slite slet slitt;
stryke strøk strøket; svike svek sveket; telle talte talt; bringe brakte brakt; følge fulgte fulgt;
""".strip()


# Prefixes that make a verb of a strong verb and keep its past forms: "beskrive" goes as "skrive".
VERB_PREFIXES = ("be", "er", "for", "fore", "av", "an", "inn", "ut", "opp", "på", "til", "fra", "gjen", "med", "mot",
                 "om", "over", "under", "ned", "sam", "mis", "fram", "frem", "bort", "tilbake", "unn", "inne")  # fmt: skip


def _strong_forms() -> dict[str, list[str]]:
    """Infinitive -> past forms of the strong verbs in NORWEGIAN_FORMS, as written."""
    groups = (g.split() for g in NORWEGIAN_FORMS.replace("\n", " ").split(";"))
    return {words[0]: words[1:] for words in groups if words}


def past_forms(verb: str, strong: dict[str, list[str]]) -> list[str]:
    """The past tense and participle a Norwegian infinitive may have, as written: a strong verb's own
    (also behind a prefix: "beskrive", "beskrev"), else the weak patterns that fit its ending ("kjøpe":
    "kjøpte", "kjøpt"; "leve": "levde", "levte"; "bo": "bodde"; the stemmer takes "-et" back itself).
    Some guesses are no word at all: the search keeps only the forms an index holds
    (`expansion.translations`)."""
    if verb in strong:
        return strong[verb]
    for infinitive, forms in strong.items():
        prefix = verb[: len(verb) - len(infinitive)]
        if verb.endswith(infinitive) and (prefix in VERB_PREFIXES or len(infinitive) >= 4 and len(prefix) >= 3):
            return [prefix + f for f in forms]
    if not verb.endswith("e") or not any(c in "aeiouyæøå" for c in verb[:-1]):  # "bo", "skje": "bodde", "skjedde"
        return [verb + "dde", verb + "dd"] if verb[-1:] in "aeiouyæøå" else []
    base = verb[:-2] if len(verb) > 3 and verb[-2] == verb[-3] else verb[:-1]  # "spille": "spilte"
    out = [base + end for end in ("te", "t")] if base[-1] != "t" else []
    return out + ([base + "de", base + "d"] if base[-1] in "aeiouyæøågjv" else [])


# Common English words that the dictionary lacks or hides behind the stop list, as news questions use
# them: English words (comma-separated), then their Norwegian translations as written. An acronym stays in
# capitals ("US": "us" is a stop word).
CURATED = """
say, says, said, tell, told: si sier sa sagt fortelle forteller fortalte fortalt; get, gets, got: få får fikk fått;
go, goes, going, went: gå går gikk gått; make, makes, made, making: lage lager laget gjøre gjør gjorde gjort;
much: mye; during: under; billion: milliard; britain, uk: storbritannia; america: amerika usa;
world cup, world championship, world championships: vm; olympics, olympic games: ol; european championship: em;
united states, US: usa; year old: åring; recent, recently: nylig siste; proportion: andel;
receive, receives, received: få får fikk fått motta mottar mottok mottatt
"""


def curated() -> dict[str, list[str]]:
    """CURATED as English key -> Norwegian index terms."""
    out: dict[str, list[str]] = {}
    for line in CURATED.replace("\n", " ").split(";"):
        english, _, norwegian = line.partition(":")
        terms = [t for w in norwegian.split() for t in analyze(w)]
        for words in english.split(","):
            words = words.split()
            if key := " ".join(words) if len(words) == 1 and words[0].isupper() else english_key(words):
                out[key] = list(dict.fromkeys(out.get(key, []) + terms))
    return out


def norwegian_forms(verbs: Iterable[str] = ()) -> dict[str, list[str]]:
    """Index term of an infinitive -> index terms of its other forms: the strong verbs of NORWEGIAN_FORMS and
    the past forms of `verbs` (infinitives, as written) that the stemmer leaves apart."""
    strong = _strong_forms()
    out: dict[str, list[str]] = {}
    for verb in [*strong, *verbs]:
        infinitive = analyze(verb)
        if len(infinitive) == 1:  # a stop word ("bli", "si") is never a term
            out.setdefault(infinitive[0], []).extend(t for w in past_forms(verb, strong) for t in analyze(w))
    return {k: [t for t in dict.fromkeys(v) if t != k] for k, v in out.items()}


def dictionary_verbs(dict_base: Path) -> list[str]:
    """The one-word Norwegian translations of the dictionary's verbs (entries marked <v>), as written."""
    out = {}
    for _, entry in entries(dict_base):
        if "<v>" in entry.splitlines()[0]:
            out.update((t.lower(), None) for t in translations(entry) if t.isalpha())
    return list(out)


def with_forms(terms: list[str], forms: dict[str, list[str]]) -> list[str]:
    """Each term, joined by "/" to the other forms of the same verb (one translation, several index terms);
    a term that is already another term's form is dropped."""
    joined = ["/".join([t, *forms.get(t, [])]) for t in terms]
    covered = {f for j in joined if "/" in j for f in j.split("/")[1:]}
    return [j for j, t in zip(joined, terms) if t not in covered]


def _number(text: str) -> int:
    n = 0
    for ch in text:
        n = n * 64 + B64.index(ch)
    return n


def require(path: Path, package: str) -> Path:
    """`path`, or an exit naming the Debian package that installs it."""
    if not path.is_file():
        raise SystemExit(f"{path} is missing: install it with `apt-get install {package}` (Debian's package)")
    return path


def entries(dict_base: Path):
    """(headword, entry text) of every entry of a dictd dictionary (.index and .dict.dz)."""
    data = gzip.decompress(require(dict_base.parent / (dict_base.name + ".dict.dz"), "dict-" + dict_base.name).read_bytes())
    for line in (dict_base.parent / (dict_base.name + ".index")).read_text(encoding="utf-8").splitlines():
        head, offset, length = line.split("\t")
        if not head.startswith("00-database"):
            start = _number(offset)
            yield head, data[start : start + _number(length)].decode("utf-8")


def translations(entry: str) -> list[str]:
    """The Norwegian translations of one entry: its first body line and every numbered line, split at commas;
    the other lines are English glosses."""
    body = entry.splitlines()[1:]
    lines = [body[0]] if body else []
    lines += [line for line in body[1:] if NUMBERED.match(line)]
    out = []
    for line in lines:
        line = SENSE_MARK.sub("", NUMBERED.sub("", line.strip()))
        out += [t.strip() for t in re.split(r"[,;]", line) if t.strip()]
    return out


def build(dict_base: Path) -> dict[str, list[str]]:
    """English key -> Norwegian index terms, in order of first appearance."""
    lexicon: dict[str, dict[str, None]] = {}
    for head, entry in entries(dict_base):
        words = head.lower().split()
        if not 1 <= len(words) <= 2 or not all(w.isalpha() for w in words):
            continue
        key = english_key(words)
        if not key:
            continue
        terms = lexicon.setdefault(key, {})
        for translation in translations(entry):
            found = analyze(translation)
            if 1 <= len(found) <= 2:
                terms.update(dict.fromkeys(found))
    return {k: list(v) for k, v in sorted(lexicon.items()) if v}


def _english_keys(question: str) -> set[str]:
    """The lexicon keys of an English question's words, names (capitalised past the first word) left out:
    a name is the same in both languages and would align with whatever its questions share."""
    words = re.findall(r"[^\W\d_]+", question)
    return {key for i, w in enumerate(words) if (i == 0 or not w[0].isupper()) and (key := english_key([w.lower()]))}


def aligned(
    pairs: list[tuple[str, str]],
    prior: dict[str, list[str]] | None = None,
    min_count: int = 1,
    min_score: float = 0.25,
    top: int = 3,
) -> dict[str, list[str]]:
    """English key -> Norwegian index terms from parallel questions (English, Norwegian), by competitive
    linking: within each pair, English keys and Norwegian terms are linked one to one, strongest
    association first (Dice over all pairs, plus 1 where `prior`, the dictionary, gives the translation),
    so a word that merely co-occurs with the true translation loses to it. Kept: links seen at least
    `min_count` times whose Dice of links to occurrences is at least `min_score`, best `top` first.
    Norwegian terms found as they are in the English question (names, numbers) are not translations."""
    prior = prior or {}
    english, norwegian, both, data = Counter(), Counter(), Counter(), []
    for en, nb in pairs:
        keys, terms = _english_keys(en), {t for t in analyze(nb) if t not in en.lower()}
        data.append((keys, terms))
        english.update(keys)
        norwegian.update(terms)
        both.update((k, t) for k in keys for t in terms)
    links = Counter()
    for keys, terms in data:
        scored = ((2 * both[k, t] / (english[k] + norwegian[t]) + (t in prior.get(k, ())), k, t) for k in keys for t in terms)
        used_keys, used_terms = set(), set()
        for _, k, t in sorted(scored, reverse=True):
            if k not in used_keys and t not in used_terms:
                used_keys.add(k)
                used_terms.add(t)
                links[k, t] += 1
    found: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for (k, t), n in links.items():
        score = 2 * n / (english[k] + norwegian[t])
        if n >= min_count and score >= min_score:
            found[k].append((-score, t))
    return {k: [t for _, t in sorted(v)[:top]] for k, v in found.items()}


def train_pairs(path: Path = QUESTIONS, skip_docs: set[str] | frozenset = frozenset()) -> list[tuple[str, str]]:
    """(English, Norwegian) of every `train` question (not about a document in `skip_docs`)."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        q = json.loads(line)
        if q.get("split") == "train" and q.get("query_nb") and not set(q["relevant"]) & skip_docs:
            out.append((q["query"], q["query_nb"]))
    return out


def merged(first: dict[str, list[str]], second: dict[str, list[str]], most: int = 8) -> dict[str, list[str]]:
    """Both word lists in one: a key's terms from `first`, then those of `second`, at most `most`."""
    out = {k: list(dict.fromkeys(first.get(k, []) + second.get(k, [])))[:most] for k in set(first) | set(second)}
    return dict(sorted(out.items()))


def write(lexicon: dict[str, list[str]], path: Path) -> None:
    """The word list as the search reads it: gzip-compressed lines of key, tab, space-separated terms."""
    text = "".join(f"{k}\t{' '.join(v)}\n" for k, v in lexicon.items() if v)
    path.write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))


def induced_pairs() -> dict[str, list[str]]:
    """English key -> Norwegian index terms induced from the model's own word vectors
    (bench/induce_lexicon.py: the best word, at a CSLS of at least 0.05)."""
    import induce_lexicon

    return {k: [t for t, _ in v] for k, v in induce_lexicon.induce(min_csls=0.05, top=1).items()}


def sources(dict_base: Path = FREEDICT, induced: bool = True) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """What the word list is made of besides aligned pairs: the dictionary with CURATED first and the induced
    pairs last (English key -> Norwegian index terms), and the Norwegian verbs' forms."""
    known = merged(curated(), build(dict_base))
    return merged(known, induced_pairs()) if induced else known, norwegian_forms(dictionary_verbs(dict_base))


def word_list(pairs: list[tuple[str, str]], known: dict[str, list[str]], forms: dict[str, list[str]]) -> dict[str, list]:
    """The word list as it ships: pairs aligned from `pairs` first, then the `known` ones (`sources`), verbs
    with their forms."""
    return {k: with_forms(v, forms) for k, v in merged(aligned(pairs, known), known).items() if v}


def fold_lexicons(questions: list[tuple[str, list[str]]], induced: bool = True) -> dict[str, dict[str, tuple[str, ...]]]:
    """For cross-fitting: per train question id (given with its relevant documents), the word list that
    knows nothing of its article's questions (two folds by article: the shipped list aligns all train
    questions, which would flatter the translations on the very questions it was aligned on)."""
    docs = sorted({d for _, relevant in questions for d in relevant})
    (known, forms), out = sources(induced=induced), {}
    for fold in (set(docs[0::2]), set(docs[1::2])):
        own = {k: tuple(v) for k, v in word_list(train_pairs(skip_docs=fold), known, forms).items()}
        out.update({qid: own for qid, relevant in questions if set(relevant) & fold})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dict", type=Path, default=FREEDICT)
    ap.add_argument("--questions", type=Path, default=QUESTIONS)
    ap.add_argument("--out", type=Path, default=LEXICON_PATH)
    ap.add_argument("--no-induced", action="store_true", help="leave out the pairs induced from the model")
    args = ap.parse_args()
    lexicon = word_list(train_pairs(args.questions), *sources(args.dict, not args.no_induced))
    write(lexicon, args.out)
    print(f"{len(lexicon)} keys, {sum(map(len, lexicon.values()))} pairs -> {args.out} ({args.out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
