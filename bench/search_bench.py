#!/usr/bin/env python3
"""`make bench`, search part: exact top-k over 200k x 512 random unit vectors, 1,000 queries,
k = 10. stickerlake search vs FAISS IndexFlatIP vs the original design (numpy matrix product
and a full argsort per query block), each in its own process, same files, same run.
Results are checked against FAISS. Prints a Markdown table.

Other shapes: `--n 1000000 --dim 256 --unnormalized --no-numpy` (the second run of
`make bench`: a million vectors, whose peak RSS is the point).
"""
import argparse, os, subprocess, sys, time

N, D, Q, K = 200_000, 512, 1_000, 10

FAISS = r"""
import sys, time, numpy as np, pyarrow.parquet as pq, faiss
vectors, queries, out = sys.argv[1:4]
t0 = time.perf_counter()
v = pq.read_table(vectors)
ids = v.column("sticker_id").to_pylist()
x = np.asarray(v.column("vector").combine_chunks().flatten()).reshape(len(ids), -1)
q = np.asarray(pq.read_table(queries).column("vector").combine_chunks().flatten()).reshape(-1, x.shape[1])
t1 = time.perf_counter()
index = faiss.IndexFlatIP(x.shape[1]); index.add(x)
scores, rows = index.search(q, 10)
t2 = time.perf_counter()
np.save(out, rows)
print(f"{t1 - t0} {t2 - t1}")
"""

GENERATE = r"""
import sys, numpy as np, pyarrow as pa, pyarrow.parquet as pq
n, d, q_count, vectors, queries, unit = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6] == "unit"
rng = np.random.default_rng(0)
x = rng.standard_normal((n, d), dtype=np.float32)
q = rng.standard_normal((q_count, d), dtype=np.float32)
if unit:
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
ids = [f"st_{i:07d}" for i in range(n)]
pq.write_table(pa.table({"sticker_id": ids, "vector": pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), d)}),
               vectors, row_group_size=65536, compression="none", use_dictionary=False)
pq.write_table(pa.table({"query": [f"q{i}" for i in range(q_count)], "vector": pa.FixedSizeListArray.from_arrays(pa.array(q.ravel()), d)}), queries)
"""

NUMPY = r"""
import sys, time, numpy as np, pyarrow.parquet as pq
vectors, queries, out = sys.argv[1:4]
t0 = time.perf_counter()
v = pq.read_table(vectors)
x = np.asarray(v.column("vector").combine_chunks().flatten()).reshape(v.num_rows, -1)
q = np.asarray(pq.read_table(queries).column("vector").combine_chunks().flatten()).reshape(-1, x.shape[1])
t1 = time.perf_counter()
rows = np.stack([(-(x @ qi)).argsort()[:10] for qi in q])  # the original: (image_vectors @ text).argsort()
t2 = time.perf_counter()
np.save(out, rows)
print(f"{t1 - t0} {t2 - t1}")
"""


def median_run(cmd, runs):
    """`run` `runs` times: median wall time, median peak RSS, the last output."""
    results = [run(cmd) for _ in range(runs)]
    middle = lambda values: sorted(values)[len(values) // 2]
    return middle([r[0] for r in results]), middle([r[1] for r in results]), results[-1][2]


def run(cmd):
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.stdout.read(), proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.decode()}\n{err.decode()}")
    return time.perf_counter() - start, usage.ru_maxrss / 1024, out.decode()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--n", type=int, default=N, help="vectors (smaller for a smoke test)")
    parser.add_argument("--dim", type=int, default=D)
    parser.add_argument("--unnormalized", action="store_true", help="vectors as drawn, not scaled to unit length")
    parser.add_argument("--no-numpy", dest="numpy", action="store_false", help="skip the (slow) original design")
    parser.add_argument("--runs", type=int, default=3, help="runs of stickerlake and FAISS (median)")
    args = parser.parse_args()
    n, dim = args.n, args.dim
    import numpy as np, pyarrow.parquet as pq, faiss

    # The data is made in another process: a child forked from a parent holding it would
    # count the parent's pages in its peak RSS.
    os.makedirs(args.work, exist_ok=True)
    vectors = os.path.join(args.work, "vectors.parquet")
    queries = os.path.join(args.work, "queries.parquet")
    generate = os.path.join(args.work, "run_generate.py")
    open(generate, "w").write(GENERATE)
    subprocess.run([sys.executable, generate, str(n), str(dim), str(Q), vectors, queries,
                    "raw" if args.unnormalized else "unit"], check=True)
    vector_mib = n * dim * 4 / (1 << 20)

    results = os.path.join(args.work, "results.parquet")
    t_ours, rss_ours, _ = median_run([args.bin, "search", "--vectors", vectors, "--queries", queries, "-k", str(K), "--metric", "ip", "-o", results], args.runs)
    # One query: the time to read the file and start, so the rest is the search itself.
    one_query = os.path.join(args.work, "one_query.parquet")
    pq.write_table(pq.read_table(queries).slice(0, 1), one_query)
    t_one, _, _ = median_run([args.bin, "search", "--vectors", vectors, "--queries", one_query, "-k", str(K), "--metric", "ip", "-o", os.path.join(args.work, "one.parquet")], args.runs)
    scripts = {}
    for name, text in (("faiss", FAISS), ("numpy", NUMPY)):
        scripts[name] = os.path.join(args.work, f"run_{name}.py")
        open(scripts[name], "w").write(text)
    faiss_runs = [run([sys.executable, scripts["faiss"], vectors, queries, os.path.join(args.work, "faiss.npy")]) for _ in range(args.runs)]
    faiss_runs.sort(key=lambda r: r[0])
    t_faiss, rss_faiss, out = faiss_runs[len(faiss_runs) // 2]
    faiss_load, faiss_search = map(float, out.split())
    if args.numpy:
        t_numpy, rss_numpy, out = run([sys.executable, scripts["numpy"], vectors, queries, os.path.join(args.work, "numpy.npy")])
        numpy_load, numpy_search = map(float, out.split())

    # Check: same top-10 sets as FAISS (an exact tie or a last-bit rounding difference at
    # rank 10 is reported, not hidden).
    ours = pq.read_table(results).to_pydict()
    mine = [[] for _ in range(Q)]
    for qid, sticker in zip(ours["query_id"], ours["sticker_id"]):
        mine[qid].append(int(sticker[3:]))
    faiss_rows = np.load(os.path.join(args.work, "faiss.npy"))
    differ_faiss = sum(set(mine[i]) != set(faiss_rows[i].tolist()) for i in range(Q))
    differ_numpy = "-"
    if args.numpy:
        numpy_rows = np.load(os.path.join(args.work, "numpy.npy"))
        differ_numpy = sum(set(mine[i]) != set(numpy_rows[i].tolist()) for i in range(Q))
    kind = "random" if args.unnormalized else "unit"
    print(f"\n{n:,} x {dim} float32 {kind} vectors ({vector_mib:.0f} MiB), {Q:,} queries, k = {K}; faiss {faiss.__version__}, numpy {np.__version__}\n")
    print("| engine | wall s (load + search) | search-only s | queries/s (wall) | peak RSS MiB |")
    print("|---|---|---|---|---|")
    print(f"| stickerlake search | {t_ours:.2f} | {t_ours - t_one:.2f} (minus a 1-query run, {t_one:.2f}) | {Q / t_ours:.0f} | {rss_ours:.0f} |")
    print(f"| FAISS IndexFlatIP | {t_faiss:.2f} | {faiss_search:.2f} | {Q / t_faiss:.0f} (search only: {Q / faiss_search:.0f}) | {rss_faiss:.0f} |")
    if args.numpy:
        print(f"| numpy matmul + argsort | {t_numpy:.2f} | {numpy_search:.2f} | {Q / t_numpy:.0f} (search only: {Q / numpy_search:.0f}) | {rss_numpy:.0f} |")
    print(f"\nmedian of {args.runs} runs for stickerlake and FAISS (numpy: 1 run)")
    print(f"ratio stickerlake/FAISS wall = {t_ours / t_faiss:.2f}, search step {(t_ours - t_one) / faiss_search:.2f}; "
          f"stickerlake peak RSS {rss_ours:.0f} MiB for {vector_mib:.0f} MiB of vectors (streamed); "
          f"queries whose top-{K} differs: {differ_faiss} vs FAISS, {differ_numpy} vs numpy")
    from figures import record
    record(f"search, {n:,} × {dim} {kind} vectors, {Q:,} queries, top {K} ({differ_faiss} top-{K}s differ from FAISS)",
           f"{t_ours:.2f} s, {rss_ours:.0f} MiB", f"FAISS IndexFlatIP {t_faiss:.2f} s, {rss_faiss:.0f} MiB",
           f"{t_ours / t_faiss:.2f}", "≤ 0.5" + (", ≤ 1.5 GB" if n >= 1_000_000 else ""),
           "bench/search_bench.py " + " ".join(sys.argv[1:]).replace(args.bin, "BIN"))


if __name__ == "__main__":
    main()
