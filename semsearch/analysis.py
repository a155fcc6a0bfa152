"""Lexical analysis that understands Norwegian: Unicode words, Snowball stemming, stop words.

Questions and passages go through exactly these steps, at build time and at query time.
"""

from __future__ import annotations

import re
from functools import lru_cache

_TOKEN = re.compile(r"\w+", re.UNICODE)
ANALYZER = "unicode-words+snowball-norwegian+stopwords-nb-en"

_ENGLISH_STOPWORDS = frozenset(
    "a an and are as at be by did do does for from has have how in is it its of on or that the this to was"
    " were what when where which who whom whose why will with about after before said say says".split()
)


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("norwegian")


# Norwegian stop words (the Snowball/NLTK list, as shipped by bm25s), kept here so that analysing a
# question imports neither bm25s nor scipy.
_NORWEGIAN_STOPWORDS = frozenset(
    """
    alle at av bare begge ble blei bli blir blitt både båe da de deg dei deim deira deires dem den denne der
    dere deres det dette di din disse ditt du dykk dykkar då eg ein eit eitt eller elles en enn er et ett
    etter for fordi fra før ha hadde han hans har hennar henne hennes her hjå ho hoe honom hoss hossen hun hva
    hvem hver hvilke hvilken hvis hvor hvordan hvorfor i ikke ikkje ingen ingi inkje inn inni ja jeg kan kom
    korleis korso kun kunne kva kvar kvarhelst kven kvi kvifor man mange me med medan meg meget mellom men mi
    min mine mitt mot mykje ned no noe noen noka noko nokon nokor nokre nå når og også om opp oss over på
    samme seg selv si sia sidan siden sin sine sitt sjøl skal skulle slik so som somme somt så sånn til um upp
    ut uten var vart varte ved vere verte vi vil ville vore vors vort vår være vært å
    """.split()
)
_STOPWORDS = _NORWEGIAN_STOPWORDS | _ENGLISH_STOPWORDS


def analyze(text: str) -> list[str]:
    """Lower-cased Unicode word tokens, stop words removed, Norwegian-stemmed (æ, ø, å kept)."""
    stop = _STOPWORDS
    words = [w for w in _TOKEN.findall(text.lower()) if w not in stop and (len(w) > 1 or w.isdigit())]
    return _stemmer().stemWords(words)
