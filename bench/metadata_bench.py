"""The server's metadata writes for one batch of small files, in-process on SQLite (no HTTP, no block bytes).

What one 1,000-file round of the daemon's upload costs the metadata store: the missing-call (`POST
/v1/blocks/missing`, 2,000 hashes of which half are held), `mark_uploading` + `add_user_blocks`
(what `POST /v1/blocks/batch` records) and `commit` of 1,000 puts (new paths, then two rounds of edits of the
same paths). Prints JSON: per step, the best of the rounds in rows per second, and the commits' CPU time a file
(`time.process_time`: steadier than the wall clock on a machine other work shares). A look at the SQL cost alone,
which the end-to-end `sync` bench mixes with everything else; run it from each of two checkouts, back to back,
to compare them (`python bench/metadata_bench.py [FILES]`).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from ferrysync.server.store.base import OpOk, PutOp
from ferrysync.server.store.migrate import upgrade_schema
from ferrysync.server.store.sql import SqlMetaStore

ROUNDS = 3


def main(argv: list[str]) -> int:
    n = int(argv[0]) if argv else 1000
    tmp = Path(tempfile.mkdtemp(prefix="ferry-metadata-bench-"))
    try:
        store = SqlMetaStore.from_url(f"sqlite:///{tmp / 'meta.db'}")
        upgrade_schema(store.engine)
        user = store.add_user("bench", "x")
        hashes = [f"{i:064x}" for i in range(n)]
        holdings: list[float] = []
        for _ in range(ROUNDS):
            t0 = time.perf_counter()
            store.mark_uploading(hashes)
            store.add_user_blocks(user.id, [(h, 4096) for h in hashes])
            holdings.append(time.perf_counter() - t0)
        asked = hashes + [f"{n + i:064x}" for i in range(n)]  # half held, half not: the daemon's missing-call
        missing: list[float] = []
        for _ in range(ROUNDS):
            t0 = time.perf_counter()
            if len(store.missing_blocks(user.id, asked)) != n:
                raise RuntimeError("the missing-call answered wrong")
            missing.append(time.perf_counter() - t0)
        commits: list[float] = []
        commit_cpu: list[float] = []
        revs: list[int | None] = [None] * n
        for r in range(ROUNDS):
            ops = [PutOp(path=f"d{i // 1000}/f{i:06d}.txt", blocks=(hashes[i],), size=4096, mtime_ns=r,
                         executable=False, base_rev=revs[i]) for i in range(n)]
            t0, c0 = time.perf_counter(), time.process_time()
            results, _ = store.commit(user.id, "bench", ops)
            commits.append(time.perf_counter() - t0)
            commit_cpu.append(time.process_time() - c0)
            revs = [x.entry.seq if isinstance(x, OpOk) else None for x in results]
            if None in revs:
                raise RuntimeError("a put was refused")
        store.close()
        print(json.dumps({"suite": "metadata", "files": n,
                          "marks_and_holdings_blocks_per_s": round(n / min(holdings)),
                          "missing_call_hashes_per_s": round(2 * n / min(missing)),
                          "commit_new_files_per_s": round(n / commits[0]),
                          "commit_edits_files_per_s": round(n / min(commits[1:])),
                          "commit_new_cpu_us_per_file": round(commit_cpu[0] / n * 1e6, 1),
                          "commit_edits_cpu_us_per_file": round(min(commit_cpu[1:]) / n * 1e6, 1),
                          "seconds": {"marks_and_holdings": [round(x, 4) for x in holdings],
                                      "missing_call": [round(x, 4) for x in missing],
                                      "commits": [round(x, 4) for x in commits]}}, indent=2))
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
