// The search page: asks GET /search and shows the results. No framework, nothing fetched from elsewhere.
"use strict";

const form = document.getElementById("search");
const statusLine = document.getElementById("status");
const list = document.getElementById("results");
const access = document.getElementById("access");
const tokenField = document.getElementById("token");
const TOKEN_KEY = "semsearch-token";
tokenField.value = sessionStorage.getItem(TOKEN_KEY) || "";
if (tokenField.value) access.hidden = false;

// The headers of an API request: with the token the user gave, when the server asks for one (--token).
function headers() {
  const token = tokenField.value.trim();
  if (token) sessionStorage.setItem(TOKEN_KEY, token); else sessionStorage.removeItem(TOKEN_KEY);
  return token ? { Accept: "application/json", Authorization: "Bearer " + token } : { Accept: "application/json" };
}

// A link cannot carry the token: with one, the article is fetched with it and shown as the JSON it is.
async function openDocument(event) {
  if (!tokenField.value.trim()) return;
  event.preventDefault();
  const response = await fetch(event.currentTarget.href, { headers: headers() });
  window.open(URL.createObjectURL(await response.blob()), "_blank");
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

// The passage, with the highlighted sentence in <mark> when the server gives its offsets. They count code
// points (Python's str), not JavaScript's UTF-16 units: an emoji is one of the first and two of the second.
function passage(r) {
  const p = el("p", "text");
  const s = r.highlight_start, e = r.highlight_end;
  const chars = Array.from(r.text);
  if (Number.isInteger(s) && Number.isInteger(e) && 0 <= s && s < e && e <= chars.length) {
    const part = (from, to) => chars.slice(from, to).join("");
    p.append(part(0, s), el("mark", null, part(s, e)), part(e));
  } else {
    p.textContent = r.text;
  }
  return p;
}

function resultItem(r) {
  const li = el("li", "result");
  const meta = el("div", "meta");
  const title = el("a", "title", r.title || r.doc_id);
  title.href = "/documents/" + encodeURIComponent(r.doc_id);
  title.addEventListener("click", openDocument);
  meta.append(title);
  if (r.date) meta.append(" · ", el("span", "date", r.date));
  if (r.heading) meta.append(" · ", el("span", "heading", r.heading));
  meta.append(el("span", "score", r.score.toFixed(3)));
  li.append(meta, passage(r));
  return li;
}

function params() {
  const data = new FormData(form);
  const query = new URLSearchParams({ q: data.get("q").trim(), k: "10", mode: data.get("mode") });
  for (const bound of ["since", "until"]) {
    if (data.get(bound)) query.set(bound, data.get(bound));
  }
  return query;
}

async function search() {
  const query = params();
  if (!query.get("q")) return;
  statusLine.className = "";
  statusLine.textContent = "Søker …";
  const started = performance.now();
  try {
    const response = await fetch("/search?" + query.toString(), { headers: headers() });
    const body = await response.json();
    if (response.status === 401) {
      access.hidden = false;
      tokenField.focus();
      throw new Error("serveren krever en nøkkel: skriv den inn og søk igjen");
    }
    if (!response.ok) throw new Error(body.error || response.statusText);
    list.replaceChildren(...body.results.map(resultItem));
    const ms = Math.round(performance.now() - started);
    statusLine.textContent = `${body.results.length} treff (${query.get("mode")}, ${ms} ms)`;
  } catch (err) {
    list.replaceChildren();
    statusLine.className = "error";
    statusLine.textContent = "Feil: " + err.message;
  }
}

form.addEventListener("submit", (event) => { event.preventDefault(); search(); });
for (const input of form.querySelectorAll("input[name=mode], input[type=date]")) {
  input.addEventListener("change", search);
}
