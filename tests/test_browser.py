"""The search page at `/`, in a real browser: Debian's chromium driven by Playwright, against a real server."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import CORPUS
from live_server import LiveServer, say

import semsearch
from semsearch.server import discovery

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
MOSCOW = "001_b8141d4232c9699a"


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("chromium is not installed: apt-get install -y chromium (make test does it where apt works)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install 'semsearch[browser]'")
    pytest.importorskip("fastapi", reason="the server extra is not installed: pip install 'semsearch[server]'")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def tiny_server(tiny_index, tmp_path_factory):
    index = tmp_path_factory.mktemp("browser") / "index"
    shutil.copytree(tiny_index, index, ignore=shutil.ignore_patterns(discovery.SERVER_FILE))
    live = LiveServer(index, tmp_path_factory.getbasetemp() / "xdg-cache").wait_ready()
    yield live
    live.stop()


def shown(page) -> list[tuple[str, str]]:
    """(article, score) of every result on the page, in order."""
    return [(li.locator(".title").inner_text(), li.locator(".score").inner_text()) for li in page.locator("#results li").all()]


def expected(question: str, index: Path, mode: str) -> list[tuple[str, str]]:
    return [(r.title or r.doc_id, f"{r.score:.3f}") for r in semsearch.query(question, 10, index, mode=mode)]


def ask(page, question: str) -> None:
    page.fill("#q", question)
    page.press("#q", "Enter")


def test_type_a_question_see_results_and_switch_mode(browser, tiny_server):
    page = browser.new_page()
    page.goto(tiny_server.url)
    question = "Hva sa Lavrov om FN-gransking?"
    ask(page, question)
    page.wait_for_selector("#status:has-text('hybrid')")
    assert shown(page) == expected(question, tiny_server.index, "hybrid")
    first = page.locator("#results li").first
    assert first.locator(".date").inner_text() and first.locator(".text").inner_text()
    assert page.locator("#results .heading").count() > 0
    page.check("input[name=mode][value=lexical]")
    page.wait_for_selector("#status:has-text('lexical')")
    lexical = expected(question, tiny_server.index, "lexical")
    assert shown(page) == lexical and lexical != expected(question, tiny_server.index, "hybrid")
    page.check("input[name=mode][value=dense]")
    page.wait_for_selector("#status:has-text('dense')")
    assert shown(page) == expected(question, tiny_server.index, "dense")
    page.close()


def test_date_range_is_sent_with_the_question(browser, tiny_server):
    page = browser.new_page()
    page.goto(tiny_server.url)
    page.fill("#since", "2017-04-01")
    page.fill("#until", "2017-12-31")
    ask(page, "Lavrov")
    page.wait_for_selector("#status:not(:has-text('Søker'))")
    dates = page.locator("#results .date").all_inner_texts()
    assert dates and all("2017-04" <= d[:7] <= "2017-12" for d in dates)
    page.close()


def test_highlighted_sentence_is_marked(browser, tiny_server):
    page = browser.new_page()
    page.goto(tiny_server.url)
    html = page.evaluate("passage({text: 'Før. Lavrov svarte. Etter.', highlight_start: 5, highlight_end: 19}).outerHTML")
    assert html == '<p class="text">Før. <mark>Lavrov svarte.</mark> Etter.</p>'
    # The server's offsets count code points, as Python does; an emoji is two UTF-16 units in JavaScript.
    text = "🙂🙂🙂 Før. Vi snakket om klima og miljø i dag. Etter."
    start = text.index("Vi")
    end = text.index(" Etter")
    marked = page.evaluate(f"passage({{text: {json.dumps(text)}, highlight_start: {start}, highlight_end: {end}}})"
                           ".querySelector('mark').textContent")  # fmt: skip
    assert marked == text[start:end] == "Vi snakket om klima og miljø i dag."
    plain = page.evaluate("passage({text: '<b>ikke html</b>', highlight_start: null, highlight_end: null}).innerHTML")
    assert plain == "&lt;b&gt;ikke html&lt;/b&gt;"
    ask(page, "Lavrov FN-gransking")
    page.wait_for_selector("#results mark")
    marked = page.locator("#results mark").first.inner_text()
    assert any(word in marked.lower() for word in ("lavrov", "gransking"))
    page.close()


def test_the_openapi_page_renders_with_nothing_from_outside(browser, tiny_server):
    """/docs draws Swagger UI over the server's own OpenAPI schema with every request refused but the server's."""
    page = browser.new_page()
    outside = []
    page.route(
        "**/*",
        lambda route: (
            route.continue_()
            if route.request.url.startswith(tiny_server.url)
            else (outside.append(route.request.url) or route.abort())
        ),
    )
    page.goto(tiny_server.url + "/docs")
    page.wait_for_selector(".swagger-ui .info .title", timeout=15_000)
    assert "semsearch" in page.locator(".swagger-ui .info .title").inner_text()
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/search" in paths and "/documents/{doc_id}" in paths
    assert not outside, outside
    page.close()


def test_with_a_token_the_page_asks_for_it_and_then_answers(browser, tiny_index, tmp_path_factory):
    index = tmp_path_factory.mktemp("browser-token") / "index"
    shutil.copytree(tiny_index, index, ignore=shutil.ignore_patterns(discovery.SERVER_FILE))
    live = LiveServer(index, tmp_path_factory.getbasetemp() / "xdg-cache", token="s3cret").wait_ready()
    try:
        page = browser.new_page()
        page.goto(live.url)
        assert page.locator("#access").is_hidden()
        ask(page, "Lavrov")
        page.wait_for_selector("#status.error:has-text('nøkkel')")
        assert page.locator("#access").is_visible() and page.locator("#results li").count() == 0
        page.fill("#token", "s3cret")
        ask(page, "Lavrov")
        page.wait_for_selector("#status:has-text('hybrid')")
        assert shown(page) == expected("Lavrov", index, "hybrid")
        with page.context.expect_page() as opened:  # the article, fetched with the token
            page.locator("#results .title").first.click()
        article = opened.value
        article.wait_for_load_state()
        assert '"doc_id"' in article.content()
        page.close()
    finally:
        live.stop()


@pytest.mark.slow
def test_e5_page_answers_the_lavrov_question(browser, tmp_path_factory, request):
    index = tmp_path_factory.mktemp("e5-page") / "index"
    semsearch.build_index(CORPUS, index)
    live = LiveServer(index, None).wait_ready()
    try:
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.goto(live.url)
        ask(page, "Hva sa Lavrov om angrepet i Syria?")
        page.wait_for_selector("#status:has-text('hybrid')")
        first = page.locator("#results li").first.locator(".title").inner_text()
        shot = tmp_path_factory.getbasetemp() / "search-page-e5.png"
        page.screenshot(path=str(shot), full_page=True)
        say(request, f"screenshot of the search page (e5, 'Hva sa Lavrov om angrepet i Syria?'): {shot}")
        assert first == MOSCOW
    finally:
        live.stop()
