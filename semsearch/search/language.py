"""Which language a question is in, as far as ranking cares: Norwegian (its words can meet the index's
words), English, or another language (neither: only the dense signal and dense feedback can help).

A rule over function words, not a model: questions are short, and a statistical detector trained on
longer text confuses Norwegian with Danish and Swedish on them. Names (Støre, Ullevål) carry no vote, so
an English question about a Norwegian place stays English.
"""

from __future__ import annotations

import re

NORWEGIAN, ENGLISH, OTHER = "nb", "en", "other"
LANGUAGES: tuple[str, ...] = (NORWEGIAN, ENGLISH, OTHER)

_ENGLISH = frozenset(
    """
    the a an what who whom whose which when where why how did does do is are was were of about and to in on
    from with by has have had will would can could should this that these those it its they their there
    been be being after before during than many much said say says into against between while not
    """.split()
)
_NORWEGIAN = frozenset(
    """
    hva hvem hvilken hvilke hvilket hvor når hvorfor hvordan er var det og i på om til av som med den de ble
    har hadde blir bli skal kan vil etter før mot fra hos ikke seg sin sitt sine hun han dem deres dette
    disse noe noen mange hvor mye kva kven kvifor korleis kvar ikkje eg ein eit vart blei sa sier
    """.split()
)
# Question words count twice: a short question's other function words may be shared ("to", "by", "of").
_QUESTION = frozenset(
    "what who whom whose which when where why how hva hvem hvilken hvilke hvilket hvor når hvorfor hvordan"
    " kva kven kvifor korleis kvar".split()
)
_WORDS = re.compile(r"[^\W\d_]+")
_LATIN = re.compile(r"[A-Za-zÀ-ɏ]")


def question_language(text: str) -> str:
    """ "nb", "en" or "other" for a question. Mostly non-Latin letters: "other". Else the side with more of
    its own function words (question words count twice) wins; no function word at all (a keyword query)
    is Norwegian, and a tie goes to Norwegian when the question holds æ, ø or å."""
    words = _WORDS.findall(text.lower())
    letters = [w for w in words if not _LATIN.search(w)]
    if words and len(letters) * 2 > len(words):
        return OTHER  # mostly another script (Cyrillic, Greek, Arabic, CJK...)
    english = sum((w in _ENGLISH) * (1 + (w in _QUESTION)) for w in words)
    norwegian = sum((w in _NORWEGIAN) * (1 + (w in _QUESTION)) for w in words)
    if english > norwegian:
        return ENGLISH
    if norwegian > english or not english:
        return NORWEGIAN
    return NORWEGIAN if re.search("[æøå]", text.lower()) else ENGLISH
