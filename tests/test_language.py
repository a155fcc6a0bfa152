"""The question language rule that picks the hybrid's fusion weights."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT

from semsearch.search.language import question_language

NORQUAD = ROOT.parent / "shared" / "data" / "norquad-news"


@pytest.mark.parametrize(
    ("question", "lang"),
    [
        ("Hva sa Lavrov om Syria?", "nb"),
        ("Kva sa Lavrov om Syria?", "nb"),  # nynorsk
        ("Hvilke to partier ligger under sperregrensen?", "nb"),  # "to" is English too
        ("Utenfor hvilken by ligger Norwegian Outlet?", "nb"),  # so is "by"
        ("Hvem jobber Matthew Peters for?", "nb"),
        ("Lavrov Syria FN", "nb"),  # keywords: the index's own language
        ("What did Lavrov say about Syria?", "en"),
        ("How much tax has Røkke paid this year?", "en"),  # a Norwegian name carries no vote
        ("Which team is Norway playing on Friday at Ullevål Stadion?", "en"),
        ("Что сказал Лавров о Сирии?", "other"),
        ("拉夫罗夫对叙利亚说了什么？", "other"),
    ],
)
def test_question_language(question, lang):
    assert question_language(question) == lang


@pytest.mark.skipif(not (NORQUAD / "queries-dev-en.jsonl").is_file(), reason="NorQuAD questions are absent")
def test_every_norquad_question_gets_its_language():
    for name, lang in (("queries-dev.jsonl", "nb"), ("queries-dev-en.jsonl", "en")):
        lines = (NORQUAD / name).read_text(encoding="utf-8").splitlines()
        wrong = [q for q in (json.loads(line)["query"] for line in lines) if question_language(q) != lang]
        assert wrong == [], f"{name}: {len(wrong)} of {len(lines)} wrong, e.g. {wrong[:3]}"
