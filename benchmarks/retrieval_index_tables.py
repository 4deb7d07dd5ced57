"""The README tables of benchmarks/retrieval_index.py, from its results (one dict a size).

>>> tables([row_10k, row_1m])   # markdown: exact vs faiss, per core, options, memory
"""


def _qps(row, name):
    case = row.get(name)
    return f"{case['queries_per_s']:,.1f}" if case else "-"


def _ratio(row, mine, theirs):
    if not row.get(mine) or not row.get(theirs):
        return "-"
    return f"**{row[mine]['queries_per_s'] / row[theirs]['queries_per_s']:.2f}x**"


def _range(row, name):
    case = row.get(name)
    if not case:
        return "-"
    each = case["queries_per_s_each"]
    return f"{min(each):,.0f}-{max(each):,.0f}"


def tables(rows):
    lines = [
        ("Exact top-10, queries in batches of 256, 2 threads on both sides: queries/s, "
        "median of the alternating runs (slowest-fastest run in brackets):"),
        "",
        ("| corpus | mmzoo `Index` | faiss `IndexFlatIP`, BLAS path | mmzoo / faiss BLAS | "
        "faiss default | faiss BLAS path, TensorFlow in its process | mmzoo GFLOP/s | "
        "same top-10 ids | load average |"),
        "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        gflops = 2 * r["mmzoo"]["queries_per_s"] * r["size"] * r["dim"] / 1e9
        same = r.get("same_ids_as_faiss")
        lines.append(
            f"| {r['size']:,} x {r['dim']} | {_qps(r, 'mmzoo')} ({_range(r, 'mmzoo')}) | "
            f"{_qps(r, 'faiss_blas')} ({_range(r, 'faiss_blas')}) | "
            f"{_ratio(r, 'mmzoo', 'faiss_blas')} | {_qps(r, 'faiss_default')} | "
            f"{_qps(r, 'faiss_blas_in_tf')} | {gflops:.1f} | "
            f"{'-' if same is None else f'{same:.1%}'} | "
            f"{r['load_average'][0]} / {r['load_average'][1]} |")
    lines += [
        "", ("One thread on both sides (batch 256), and one query at a time (`search` "
        "called once per query, 2 threads):"), "",
        ("| corpus | mmzoo, 1 thread | faiss BLAS path, 1 thread | ratio | "
        "mmzoo, single queries | faiss, single queries | ratio |"),
        "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['size']:,} x {r['dim']} | {_qps(r, 'mmzoo_1thread')} | "
            f"{_qps(r, 'faiss_blas_1thread')} | "
            f"{_ratio(r, 'mmzoo_1thread', 'faiss_blas_1thread')} | {_qps(r, 'mmzoo_1')} | "
            f"{_qps(r, 'faiss_1')} | {_ratio(r, 'mmzoo_1', 'faiss_1')} |")
    lines += [
        "", ("Options for corpora that outgrow exact search (queries/s at batch 256, 2 "
        "threads; memory: what the index holds; recall@10 against the exact top-10):"), "",
        "| corpus | `Index(...)` | memory | build | queries/s | recall@10 |",
        "|---|---|---|---|---|---|"]
    for r in rows:
        exact_mib = r["memory"]["embeddings_mib"]
        lines.append(f"| {r['size']:,} x {r['dim']} | exact, float32 | {exact_mib:,} MiB | "
                     f"- | {_qps(r, 'mmzoo')} | 1.0 |")
        for name, label in _options(r):
            case = r[name]
            lines.append(
                f"| {r['size']:,} x {r['dim']} | {label} | {case['mib']:,} MiB | "
                f"{case['build_seconds']} s | {_qps(r, name)} | "
                f"{case.get('recall_at_10', '-')} |")
    lines += [
        "", ("Memory (float32, RSS above the process with TensorFlow loaded: once built, and "
        "the peak over building, searching a batch of 256, saving and loading) and files:"),
        "", "| corpus | embeddings | RSS steady / peak | save / load | file |",
        "|---|---|---|---|---|"]
    for r in rows:
        m = r["memory"]
        lines.append(
            f"| {r['size']:,} x {r['dim']} | {m['embeddings_mib']:,} MiB | "
            f"{m['steady_rss_mib']:,} / {m['peak_rss_mib']:,} MiB | "
            f"{m['save_seconds']} / {m['load_seconds']} s | {m['file_mib']:,} MiB |")
    return "\n".join(lines)


def _options(row):
    for name in ("mmzoo_bfloat16", "mmzoo_int8"):
        if name in row:
            yield name, f'`storage="{name.split("_", 1)[1]}"`'
    for name in sorted(n for n in row if n.startswith("mmzoo_faiss_")):
        spec = name[len("mmzoo_faiss_"):]
        yield name, f'`backend="faiss", faiss_index="{spec}"`'
