"""Post N timeline messages to a local Synapse through MatrixTimeline and print latency per post.

    /tmp/venv/bin/python bench/bench_matrix_post.py [-n 200] [--attachment-kb 0] [--json]

Starts a throwaway Synapse (tests/support/synapse.py: installed once into ~/.cache/renkei-tests), makes a bot
and one patient room, then times each `deliver()` (one text event; with --attachment-kb also an upload and an
m.file event) and the replay of every key (answered from the local ledger, no request).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from renkei.connectors.base import Attachment, ConnectorContext, TimelinePost
from renkei.connectors.matrix import MatrixTimeline


def _harness():
    path = Path(__file__).resolve().parents[1] / "tests" / "support" / "synapse.py"
    spec = importlib.util.spec_from_file_location("renkei_test_support_synapse", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=200, help="posts to send")
    ap.add_argument("--attachment-kb", type=int, default=0, help="attach a PDF of this size to every post")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()

    harness = _harness()
    with (
        tempfile.TemporaryDirectory(prefix="renkei-bench-matrix-") as tmp,
        harness.start_synapse(Path(tmp) / "hs") as hs,
    ):
        bot = hs.register("renkei-bench", admin=False)
        os.environ["RENKEI_BENCH_MATRIX_TOKEN"] = bot.access_token
        settings = MatrixTimeline.Settings(
            homeserver=hs.url, user_id=bot.user_id, token_env="RENKEI_BENCH_MATRIX_TOKEN"
        )
        pdf = b"%PDF-1.4\n" + b"0" * max(0, args.attachment_kb * 1024 - 9)
        with MatrixTimeline("bench", settings, ConnectorContext(data_dir=Path(tmp) / "data")) as conn:
            t0 = time.perf_counter()
            conn.ensure_group("P-BENCH")
            create_ms = (time.perf_counter() - t0) * 1000
            post_ms: list[float] = []
            for i in range(args.n):
                post = TimelinePost(
                    patient_id="P-BENCH",
                    text=f"バイタル #{i}: 体温 36.{i % 10} ℃ / SpO2 9{i % 10} %",
                    tags=["バイタル"],
                    attachments=[Attachment(f"r{i}.pdf", "application/pdf", pdf)] if args.attachment_kb else [],
                )
                t = time.perf_counter()
                conn.deliver(post.to_dict(), f"bench:{i}")
                post_ms.append((time.perf_counter() - t) * 1000)
            replay_ms: list[float] = []
            for i in range(args.n):
                t = time.perf_counter()
                conn.deliver({"patient_id": "P-BENCH", "text": "ignored"}, f"bench:{i}")
                replay_ms.append((time.perf_counter() - t) * 1000)
        figures = {
            "posts": args.n,
            "attachment_kb": args.attachment_kb,
            "synapse_startup_s": round(hs.startup_seconds, 2),
            "room_create_ms": round(create_ms, 1),
            "post_p50_ms": round(_pct(post_ms, 50), 2),
            "post_p95_ms": round(_pct(post_ms, 95), 2),
            "post_mean_ms": round(statistics.fmean(post_ms), 2),
            "posts_per_s": round(args.n / (sum(post_ms) / 1000), 1),
            "replay_p50_ms": round(_pct(replay_ms, 50), 3),
            "replay_p95_ms": round(_pct(replay_ms, 95), 3),
        }
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:18} {value}")


if __name__ == "__main__":
    main()
