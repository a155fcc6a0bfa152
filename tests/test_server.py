"""`semsearch serve`: a real uvicorn server on loopback over the tiny index, asked over HTTP."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import pytest
from conftest import CORPUS, ROOT
from live_server import LiveServer, free_port, say
from live_server import request as http_request

import semsearch
from semsearch.server import discovery

pytest.importorskip("fastapi", reason="the server extra is not installed: pip install 'semsearch[server]'")
MOSCOW = "001_b8141d4232c9699a"


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.getbasetemp() / "xdg-cache"


@pytest.fixture(scope="module")
def served_index(tiny_index, tmp_path_factory) -> Path:
    """A private copy of the tiny index: the server announces itself in the folder."""
    index = tmp_path_factory.mktemp("served") / "index"
    shutil.copytree(tiny_index, index)
    return index


@pytest.fixture(scope="module")
def server(served_index, cache):
    live = LiveServer(served_index, cache).wait_ready()
    yield live
    live.stop()
    assert not discovery.record_path(served_index).exists(), "server.json must be removed on exit"


def search(server, **params) -> tuple[int, object]:
    return server.get("/search?" + urllib.parse.urlencode(params, doseq=True))


def test_health_info_docs_and_page(server, served_index):
    info = semsearch.index_info(served_index)
    status, health = server.get("/health")
    assert status == 200 and health["status"] == "ok"
    assert health["documents"] == info.documents == 5 and health["chunks"] == info.chunks
    assert health["generation"] == info.generation
    status, served_info = server.get("/info")
    assert status == 200 and served_info["chunks"] == info.chunks and served_info["model"] == info.model
    status, openapi = server.get("/openapi.json")
    assert status == 200 and {"/search", "/documents/{doc_id}", "/health", "/info"} <= set(openapi["paths"])
    assert {"get", "post"} <= set(openapi["paths"]["/search"])
    status, docs = server.get("/docs")
    assert status == 200 and "/static/docs/swagger-ui-bundle.js" in docs and "/openapi.json" in docs
    status, redoc = server.get("/redoc")
    assert status == 200 and "/static/docs/redoc.standalone.js" in redoc
    for page in (docs, redoc):
        assert "http://" not in page and "https://" not in page, "the OpenAPI pages must fetch nothing from elsewhere"
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"):
        status, body = server.get(f"/static/docs/{name}")
        assert status == 200 and len(body) > 10_000
    status, page = server.get("/")
    assert status == 200 and 'id="q"' in page and "/static/app.js" in page
    assert "http://" not in page and "https://" not in page, "the page must fetch nothing from elsewhere"


def test_the_openapi_schema_gives_each_operation_its_own_id(served_index):
    """FastAPI warns on every /openapi.json when two operations share an id (one route for GET and HEAD did)."""
    import warnings

    from semsearch.server.app import create_app

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        schema = create_app(served_index, warm=False).openapi()
    ids = [operation["operationId"] for path in schema["paths"].values() for operation in path.values()]
    assert len(ids) == len(set(ids)) and "/health" in schema["paths"]


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_get_and_post_search_give_the_library_results(server, served_index, mode):
    question = "Hva sa Lavrov om FN-gransking?"
    expected = [r.to_dict() for r in semsearch.query(question, 4, served_index, mode=mode)]
    status, got = search(server, q=question, k=4, mode=mode)
    assert status == 200 and got["results"] == expected and len(expected) == 4
    status, posted = server.post("/search", {"q": question, "k": 4, "mode": mode})
    assert status == 200 and posted["results"] == expected
    per_article = [r.to_dict() for r in semsearch.query(question, 3, served_index, mode=mode, per_article=True)]
    status, got = search(server, q=question, k=3, mode=mode, per_article="true")
    assert got["results"] == per_article and len({r["doc_id"] for r in per_article}) == 3


BAD_REQUESTS = [
    ("empty q", {"q": ""}, "q"),
    ("blank q", {"q": "   "}, "empty"),
    ("no q", {"k": 3}, "q"),
    ("k=0", {"q": "Lavrov", "k": 0}, "k"),
    ("k=1001", {"q": "Lavrov", "k": 1001}, "k"),
    ("k not a number", {"q": "Lavrov", "k": "many"}, "k"),
    ("unknown mode", {"q": "Lavrov", "mode": "semantic"}, "mode"),
    ("q over 2000 chars", {"q": "Lavrov " * 300}, "2000"),
    ("since not a date", {"q": "Lavrov", "since": "last week"}, "not a date"),
    ("month 13", {"q": "Lavrov", "since": "2017-13"}, "not a real date"),
    ("30 February", {"q": "Lavrov", "until": "2017-02-30"}, "not a real date"),
    ("since after until", {"q": "Lavrov", "since": "2018", "until": "2017-12"}, "later than until"),
    ("where without field", {"q": "Lavrov", "where": "Lavrov"}, "field:value"),
]


@pytest.mark.parametrize(("case", "params", "says"), BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS])
def test_bad_get_requests_are_4xx_json(server, case, params, says):
    status, body = search(server, **params)
    assert 400 <= status < 500, (case, status, body)
    assert isinstance(body, dict) and says in body["error"], body
    print(f"{case:<20} GET  -> {status} {body['error']}")


@pytest.mark.parametrize(
    ("case", "body", "says"),
    [
        ("not JSON", b"{q: Lavrov", "JSON"),
        ("unknown key", {"q": "Lavrov", "top_k": 3}, "top_k"),
        ("k=0", {"q": "Lavrov", "k": 0}, "k"),
        ("unknown mode", {"q": "Lavrov", "mode": "fuzzy"}, "mode"),
        ("malformed date", {"q": "Lavrov", "since": "2017/04"}, "not a date"),
        ("where not a map", {"q": "Lavrov", "where": "doc_id:1"}, "where"),
        ("1001 where values", {"q": "Lavrov", "where": {"doc_id": [str(n) for n in range(1001)]}}, "over the limit"),
        ("body over 256 KiB", {"q": "Lavrov", "padding": "x" * (256 * 1024)}, "request body is over"),
    ],
)
def test_bad_post_requests_are_4xx_json(server, case, body, says):
    status, answer = server.post("/search", body)
    assert 400 <= status < 500 and says in answer["error"], (case, status, answer)
    print(f"{case:<20} POST -> {status} {answer['error']}")


def test_a_body_streamed_in_chunks_is_cut_at_the_limit(server):
    import http.client

    def chunks():
        for _ in range(64):  # 64 x 8 KiB: twice the limit, with no Content-Length
            yield b'{"q": "' + b"x" * 8192 if _ == 0 else b"x" * 8192

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("POST", "/search", body=chunks(), headers={"Content-Type": "application/json"}, encode_chunked=True)
        response = conn.getresponse()
        assert response.status == 413 and "request body is over" in json.loads(response.read())["error"]
    finally:
        conn.close()


def test_filters_pass_through_to_the_library(server, served_index):
    status, body = search(server, q="Lavrov", k=10, since="2017-04", until="2017-12")
    assert status == 200 and body["results"]
    assert all("2017-04" <= r["date"][:7] <= "2017-12" for r in body["results"])
    expected = [r.to_dict() for r in semsearch.query("Lavrov", 10, served_index, since="2017-04", until="2017-12")]
    assert body["results"] == expected
    status, body = search(server, q="Lavrov", k=10, where=f"doc_id:{MOSCOW}")
    assert status == 200 and {r["doc_id"] for r in body["results"]} == {MOSCOW}
    status, body = server.post("/search", {"q": "Lavrov", "where": {"no_such_field": "x"}})
    assert status == 400 and "no_such_field" in body["error"]
    for value in (5, True, 2.5):  # metadata values are strings, numbers or booleans, as in semsearch.query
        status, body = server.post("/search", {"q": "Lavrov", "where": {"doc_id": [value, MOSCOW]}})
        assert status == 200 and {r["doc_id"] for r in body["results"]} == {MOSCOW}, (value, body)


def test_documents_by_id_and_never_by_path(server, served_index):
    status, doc = server.get(f"/documents/{MOSCOW}")
    assert status == 200 and doc["doc_id"] == MOSCOW and doc["date"] == "2017-04"
    source = (CORPUS / f"{MOSCOW}.txt").read_text(encoding="utf-8")
    first = semsearch.query("Tillerson Lavrov pressekonferanse", 1, served_index, mode="lexical")[0]
    assert first.text in doc["text"] and first.text in source
    for doc_id in ("nope", "..%2F..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "..%2Fmanifest.json", "CURRENT"):
        status, body = server.get(f"/documents/{doc_id}")
        assert status == 404 and "no document" in body["error"], (doc_id, status, body)


def test_hot_swap_answers_from_the_new_index_without_a_failed_request(tiny_model, corpus_copy, tmp_path, cache, request):
    index = tmp_path / "index"
    semsearch.build_index(corpus_copy, index, model=str(tiny_model))
    live = LiveServer(index, cache).wait_ready()
    statuses: list[int] = []
    stop = threading.Event()

    def poll() -> None:  # a client that keeps asking throughout the swap
        while not stop.is_set():
            statuses.append(search(live, q="Hva sa Lavrov?", k=3)[0])

    poller = threading.Thread(target=poll)
    try:
        snapshot_before = live.get("/health")[1]
        poller.start()
        (corpus_copy / "zz_new.txt").write_text(" date 2024-05 Blåbærsyltetøy fra Trøndelag vant prisen.\n", encoding="utf-8")
        semsearch.build_index(corpus_copy, index)
        committed = time.monotonic()
        while time.monotonic() - committed < 5:
            status, body = search(live, q="blåbærsyltetøy", k=1, mode="lexical")
            if status == 200 and body["results"] and body["results"][0]["doc_id"] == "zz_new":
                break
            time.sleep(0.05)
        lag = time.monotonic() - committed
        while len(statuses) <= 5 and time.monotonic() - committed < 10:  # a fast build can beat the poller
            time.sleep(0.05)
        health = live.get("/health")[1]
    finally:
        stop.set()
        poller.join(30)
        live.stop()
    codes = sorted(set(statuses))
    say(request, f"hot swap: new index answered {lag:.2f} s after the commit; {len(statuses)} requests meanwhile, status {codes}")
    assert lag < 5, "the server did not answer from the re-indexed folder within 5 s"
    assert health["documents"] == 6 and health != snapshot_before
    assert len(statuses) > 5 and set(statuses) == {200}, statuses


def test_token_guards_every_request_and_the_cli_uses_it(served_index, tmp_path, cache):
    index = tmp_path / "index"
    shutil.copytree(served_index, index, ignore=shutil.ignore_patterns(discovery.SERVER_FILE))
    live = LiveServer(index, cache, token="s3cret").wait_ready()
    try:
        for path in ("/health", "/search?q=Lavrov", "/docs", "/openapi.json", f"/documents/{MOSCOW}"):
            assert live.get(path, token="wrong")[0] == 401
            assert http_request(live.url + path)[0] == 401
        for path in ("/", "/static/app.js"):  # the page holds no data: it asks for the token
            assert http_request(live.url + path)[0] == 200
        assert http_request(live.url + "/", body={"q": "Lavrov"})[0] == 401
        assert live.get("/search?q=Lavrov")[0] == 200
        lower = http_request(live.url + "/health", headers={"Authorization": "bearer s3cret"})  # the scheme is any case
        assert lower[0] == 200 and http_request(live.url + "/health", headers={"Authorization": "Basic s3cret"})[0] == 401
        assert json.loads(discovery.record_path(index).read_text())["token"] is True
        with_token = run_cli(["query", "Lavrov", "--index", str(index), "--json"], cache, token="s3cret")
        without = run_cli(["query", "Lavrov", "--index", str(index), "--json"], cache)
        assert with_token["via_server"] and not without["via_server"]
        assert with_token["results"] == without["results"]
    finally:
        live.stop()


def test_serve_refuses_a_missing_index_and_a_taken_port_in_one_line(server, served_index, tmp_path):
    for args, says in (
        (["--index", str(tmp_path / "none")], "does not exist"),
        (["--index", str(served_index), "--port", str(server.port)], f"cannot listen on 127.0.0.1:{server.port}"),
        (["--index", str(served_index), "--workers", "0"], "at least 1"),
        (["--index", str(served_index), "--port", "65536"], "not a TCP port"),
        (["--index", str(served_index), "--port", "-1"], "not a TCP port"),
    ):
        cmd = [sys.executable, "-m", "semsearch.cli", "serve", *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], proc.stderr
    record = json.loads(discovery.record_path(served_index).read_text())
    assert record["url"] == server.url, "a server that could not start must leave the running one's record alone"


def test_a_missing_model_is_one_line_before_serving(tiny_model, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    semsearch.build_index(CORPUS, tmp_path / "index", model=str(model))
    shutil.rmtree(model)
    cmd = [sys.executable, "-m", "semsearch.cli", "serve", "--index", str(tmp_path / "index"), "--port", str(free_port())]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1 and str(model) in lines[0] and "Traceback" not in proc.stderr, proc.stderr


def test_port_0_announces_the_port_it_listens_on(served_index, tmp_path, cache):
    index = tmp_path / "index"
    shutil.copytree(served_index, index, ignore=shutil.ignore_patterns(discovery.SERVER_FILE))
    live = LiveServer(index, cache, port=0)
    try:
        deadline = time.monotonic() + 120
        while (record := discovery.read_record(index)) is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert record is not None and not record.url.endswith(":0"), record
        live.url = record.url
        live.wait_ready()
        assert live.get("/health")[0] == 200
    finally:
        live.stop()


def test_head_requests_and_a_vanished_index_is_503(served_index, tmp_path, cache):
    index = tmp_path / "index"
    shutil.copytree(served_index, index, ignore=shutil.ignore_patterns(discovery.SERVER_FILE))
    live = LiveServer(index, cache).wait_ready()
    try:
        for path in ("/", "/health"):
            assert http_request(live.url + path, method="HEAD")[0] == 200, path
        shutil.rmtree(index)
        for path in ("/health", "/info", "/search?q=Lavrov", f"/documents/{MOSCOW}"):
            status, body = live.get(path)
            assert status == 503 and "semsearch index" in body["error"], (path, status, body)
        assert search(live, q="Lavrov", where="no_such_field:x")[0] == 503  # the index first: nothing to check it against
    finally:
        live.stop()


def test_exposed_without_token_warns(served_index, tmp_path, cache):
    index = tmp_path / "index"
    shutil.copytree(served_index, index, ignore=shutil.ignore_patterns(discovery.SERVER_FILE))
    live = LiveServer(index, cache, host="0.0.0.0").wait_ready()
    err = live.stop()
    assert "warning: serving on 0.0.0.0 without a token" in err and "--token" in err


def run_cli(args: list[str], cache: Path, token: str | None = None) -> dict:
    """Run the CLI in a fresh process; report its JSON output and whether it answered without loading the library."""
    code = (
        "import json, sys; from semsearch.cli import app\n"
        "try:\n    app(sys.argv[1:])\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "heavy = [m for m in ('semsearch.api', 'torch', 'fastapi', 'uvicorn') if m in sys.modules]\n"
        "print('\\nHEAVY' + json.dumps(heavy))"
    )
    env = {k: v for k, v in os.environ.items() if k != "SEMSEARCH_TOKEN"}  # same BLAS settings as this process
    env["XDG_CACHE_HOME"] = str(cache)
    if token:
        env["SEMSEARCH_TOKEN"] = token
    proc = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out, _, heavy = proc.stdout.rpartition("\nHEAVY")
    loaded = json.loads(heavy)
    return {"results": json.loads(out), "via_server": not loaded, "loaded": loaded}


def test_cli_query_asks_the_running_server_and_falls_back_when_it_is_gone(server, served_index, cache):
    args = ["query", "Hva sa Lavrov om angrepet i Syria?", "-k", "4", "--index", str(served_index), "--json"]
    via_server = run_cli(args, cache)
    local = run_cli([*args, "--local"], cache)
    assert via_server["via_server"], f"the CLI loaded {via_server['loaded']}: it did not ask the server"
    assert not local["via_server"]
    assert via_server["results"] == local["results"] and len(local["results"]) == 4
    lexical = run_cli([*args, "--mode", "lexical", "--per-article"], cache)
    assert lexical["via_server"]
    expected = semsearch.query(args[1], 4, served_index, mode="lexical", per_article=True)
    assert lexical["results"] == [r.to_dict() for r in expected]


@pytest.mark.parametrize("stale", ["dead process", "closed port", "garbage"])
def test_cli_falls_back_to_local_search_on_a_stale_record(served_index, tmp_path, cache, stale):
    index = tmp_path / "index"
    shutil.copytree(served_index, index, ignore=shutil.ignore_patterns(discovery.SERVER_FILE))
    if stale == "garbage":
        discovery.record_path(index).write_text("{not json")
    else:
        discovery.write_record(index, f"http://127.0.0.1:{free_port()}", token=False)
        if stale == "dead process":
            dead = subprocess.Popen([sys.executable, "-c", "pass"])
            dead.wait()
            record = json.loads(discovery.record_path(index).read_text())
            discovery.record_path(index).write_text(json.dumps({**record, "pid": dead.pid}))
    assert discovery.read_record(index) is None or stale == "closed port"
    args = ["query", "Lavrov", "-k", "3", "--index", str(index), "--json"]
    got = run_cli(args, cache)
    assert not got["via_server"]
    assert got["results"] == [r.to_dict() for r in semsearch.query("Lavrov", 3, index)]


def test_cli_import_stays_light_and_a_missing_extra_is_one_line(tiny_index, tmp_path):
    light = (
        "import sys; import semsearch.cli, semsearch.server.discovery\n"
        "heavy = [m for m in ('fastapi', 'uvicorn', 'starlette', 'pydantic', 'torch') if m in sys.modules]\n"
        "sys.exit(1 if heavy else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", light], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    without_fastapi = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('fastapi', 'uvicorn'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from semsearch.cli import main\nsys.argv = ['semsearch'] + sys.argv[1:]\nmain()"
    )
    cmd = [sys.executable, "-c", without_fastapi, "serve", "--index", str(tiny_index), "--port", "1"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'semsearch[server]'" in lines[0] and "Traceback" not in proc.stderr, proc.stderr


@pytest.mark.slow
def test_two_servers_on_one_index_both_answer_after_a_swap(corpus_copy, tmp_path, request):
    index = tmp_path / "index"
    semsearch.build_index(corpus_copy, index)
    servers = [LiveServer(index, None), LiveServer(index, None)]
    try:
        for live in servers:
            live.wait_ready()
            assert live.get("/search?q=Lavrov&k=1")[0] == 200
        (corpus_copy / "zz_new.txt").write_text(" date 2024-05 Blåbærsyltetøy fra Trøndelag vant prisen.\n", encoding="utf-8")
        subprocess.run([sys.executable, "-m", "semsearch.cli", "index", str(corpus_copy), "--index", str(index)], check=True)
        committed = time.monotonic()
        lags = {}
        while len(lags) < 2 and time.monotonic() - committed < 5:
            for n, live in enumerate(servers):
                status, body = live.get("/search?q=bl%C3%A5b%C3%A6rsyltet%C3%B8y&k=1&mode=lexical")
                assert status == 200
                if n not in lags and body["results"] and body["results"][0]["doc_id"] == "zz_new":
                    lags[n] = time.monotonic() - committed
            time.sleep(0.05)
        say(request, f"two servers on one index: answered from the new index after {sorted(lags.values())} s")
        assert len(lags) == 2, "both servers must answer from the new index within 5 s"
    finally:
        for live in servers:
            live.stop()
