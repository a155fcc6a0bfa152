"""The tables and target checks of bench/scale.py, from its results file (one entry per size)."""

from __future__ import annotations

ORDER = ["1k", "5k", "20k", "all", "1m"]
UPDATES = ["unchanged", "change1", "change1_named", "add10", "delete1"]


def _get(row: dict, *path, default=None):
    for key in path:
        if not isinstance(row, dict) or key not in row:
            return default
        row = row[key]
    return row


def _ratio(value, base) -> str:
    return f" (x{value / base:.1f})" if value is not None and base else ""


def _mb(n) -> str:
    return "-" if n is None else f"{n / 1e6:.1f} MB" if n < 1e9 else f"{n / 1e9:.2f} GB"


def _table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, ["-" * w for w in widths], *rows]:
        print(" | ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    print()


def _build_rows(results: dict, sizes: list[str]) -> list[list[str]]:
    base = results.get("1k", {})
    rows = []
    for s in sizes:
        r = results[s]
        b = r.get("build", {})
        t = b.get("timings", {})
        if t:
            split = f"{t.get('read_and_chunk', 0):.0f} / {t.get('embed', 0):.0f} / {t.get('write', 0):.0f}"
        else:
            split = f"chunk {b.get('chunk_s', 0):.0f} / write {b.get('write_s', 0):.0f} / merge {b.get('merge_s', 0):.0f}"
        wall = b.get("wall_s")
        ratio = "" if s == "1m" else _ratio(wall, _get(base, "build", "wall_s"))  # 1m is not a build of the same kind
        rows.append([s, r.get("docs", "-"), r.get("chunks", "-"), f"{wall:.0f} s{ratio}" if wall else "(reused)", split,
                     f"{b['peak_rss_mb']:.0f} MB" if "peak_rss_mb" in b else "-", _mb(r.get("index_bytes")),
                     b.get("segments", "-")])  # fmt: skip
    return rows


def _update_rows(results: dict, sizes: list[str]) -> list[list[str]]:
    base = results.get("1k", {})
    rows = []
    for s in sizes:
        cells = [s]
        for kind in UPDATES:
            u = _get(results[s], "updates", kind, default={})
            own = u.get("system_s")
            cells.append(f"{u.get('wall_s', 0):.2f} s, own {own:.2f} s{_ratio(own, _get(base, 'updates', kind, 'system_s'))}, "
                         f"{_mb(u.get('bytes'))}" if u else "-")  # fmt: skip
        rows.append(cells)
    return rows


def _query_rows(results: dict, sizes: list[str]) -> list[list[str]]:
    base = results.get("1k", {})
    rows = []
    for s in sizes:
        q = results[s].get("queries", {})
        cells = [s]
        for mode in ("dense", "lexical", "hybrid"):
            w = _get(q, "warm", mode, default={})
            ratio = _ratio(w.get("p50_ms"), _get(base, "queries", "warm", mode, "p50_ms")) if mode == "hybrid" else ""
            cells.append(f"{w['p50_ms']:.1f} / {w['p99_ms']:.1f}{ratio}" if w else "-")
        busy, quiet = _get(q, "busy_hybrid", "p50_ms"), _get(q, "warm", "hybrid", "p50_ms")
        cells.append(f"{busy:.1f}{_ratio(busy, quiet)}" if busy else "-")
        cells.append(" / ".join(f"{_get(q, 'cold', m, 'median_s', default=0):.2f}" for m in ("dense", "lexical", "hybrid")))
        recall = _get(q, "ann", "recall")
        cells.append("no ANN segment" if recall is None else f"{recall:.3f} ({_get(q, 'ann', 'segments_with_ann')} seg)")
        c = results[s].get("compact")
        cells.append(f"{c['before']} -> {c['after']} ({c['seconds']:.0f} s)" if c else "-")
        rows.append(cells)
    return rows


def _verdict(ok: bool | None) -> str:
    return "n/a " if ok is None else "PASS" if ok else "MISS"


def _targets(results: dict) -> list[tuple[bool | None, str]]:
    m = results.get("1m", {})
    out = []
    ch = _get(m, "updates", "change1", default={})
    if ch:
        share = ch["bytes"] / m["index_bytes"]
        line = f"1M one-file update <= 2 s, <= 1% written: {ch['system_s']:.2f} s, {_mb(ch['bytes'])}"
        out.append((ch["system_s"] <= 2 and share <= 0.01, f"{line} = {100 * share:.3f}% of {_mb(m['index_bytes'])}"))
    else:
        out.append((None, "1M one-file update: no 1m row"))
    hyb = _get(m, "queries", "warm", "hybrid", default={})
    out.append((hyb["p50_ms"] <= 50 if hyb else None, f"1M warm hybrid p50 <= 50 ms: {hyb.get('p50_ms', float('nan')):.1f} ms"))
    out.append((hyb["p99_ms"] <= 150 if hyb else None, f"1M warm hybrid p99 <= 150 ms: {hyb.get('p99_ms', float('nan')):.1f} ms"))
    busy = _get(m, "queries", "busy_hybrid", "p50_ms")
    line = f"1M busy hybrid p50 <= 2x quiet: {busy or float('nan'):.1f} ms vs {hyb.get('p50_ms', float('nan')):.1f} ms"
    out.append((busy <= 2 * hyb["p50_ms"] if busy and hyb else None, line))
    cold = _get(m, "queries", "cold", "hybrid", "median_s")
    out.append((cold <= 1.0 if cold else None, f"1M cold CLI hybrid <= 1.0 s: {cold or float('nan'):.2f} s"))
    real = {
        s: _get(results[s], "build", "peak_rss_mb") for s in results if s != "1m" and _get(results[s], "build", "peak_rss_mb")
    }
    if real:
        worst = max(real, key=real.get)
        out.append((real[worst] <= 4096, f"build peak RSS <= 4 GB: {real[worst]:.0f} MB at {worst} (largest real build)"))
    if m.get("build"):
        out.append(
            (m["build"]["peak_rss_mb"] <= 4096, f"1M synthetic write+merge peak RSS <= 4 GB: {m['build']['peak_rss_mb']:.0f} MB")
        )
    recalls = [(s, _get(results[s], "queries", "ann", "recall")) for s in ORDER if s in results]
    for s, recall in recalls:
        if recall is not None:
            out.append((recall >= 0.98, f"ANN recall@10 >= 0.98 against exact at {s} (benchmark questions): {recall:.3f}"))
    out += _growth(results)
    return out


def _growth(results: dict) -> list[tuple[bool | None, str]]:
    top = "20k" if "20k" in results else next((s for s in ("5k",) if s in results), None)
    if "1k" not in results or top is None:
        return [(None, "1k->20k growth: needs the 1k and 20k rows")]
    note = "" if top == "20k" else f" (only up to {top} measured)"
    a, b = results["1k"], results[top]
    upd = _get(b, "updates", "change1", "system_s") / _get(a, "updates", "change1", "system_s")
    hyb = _get(b, "queries", "warm", "hybrid", "p50_ms") / _get(a, "queries", "warm", "hybrid", "p50_ms")
    line = f"1k->{top} growth of one-file update time, folder walked (builder, no embedding) <= 1.5x"
    out = [(upd <= 1.5, f"{line}: x{upd:.2f}{note}")]
    if _get(a, "updates", "change1_named") and _get(b, "updates", "change1_named"):
        named = _get(b, "updates", "change1_named", "system_s") / _get(a, "updates", "change1_named", "system_s")
        line = f"1k->{top} growth of one-file update time, file named by --changed (builder, no embedding) <= 1.5x"
        out.append((named <= 1.5, f"{line}: x{named:.2f}{note}"))
    return [*out, (hyb <= 1.5, f"1k->{top} growth of warm hybrid p50 <= 1.5x: x{hyb:.2f}{note}")]


def print_report(results: dict) -> None:
    """Print the three tables and the targets."""
    sizes = [s for s in results if s not in ORDER] + [s for s in ORDER if s in results]
    if not sizes:
        print("no results yet")
        return
    print("\nBuild (1m: synthetic write of ~100k-row segments + policy merge, no embedding)")
    _table(["size", "docs", "chunks", "full build", "read+chunk / embed / write s", "peak RSS", "index", "segments"],
           _build_rows(results, sizes))  # fmt: skip
    print("Updates: wall of a fresh process; own = the builder's time without embedding (1m: store-level); bytes of new files")
    _table(["size", *UPDATES], _update_rows(results, sizes))
    print("Queries: warm p50 / p99 ms, one thread, k=10; busy = 2 busy loops on the 2 cores; cold = fresh CLI, median of 5 s")
    _table(["size", "dense", "lexical", "hybrid", "busy hybrid p50", "cold dense / lexical / hybrid", "ANN recall@10",
            "segments compact"], _query_rows(results, sizes))  # fmt: skip
    print("Targets")
    for ok, line in _targets(results):
        print(f"  {_verdict(ok)}  {line}")
