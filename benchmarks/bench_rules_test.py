"""Cost of the rule dry-run (POST /v1/rules/test): current and candidate audits sharing one model pass.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_rules_test.py [--limit 50] [--rounds 3]

On real JDDC sessions, in the same run and interleaved (medians over rounds, so load from other processes
hits all alike):
  one audit     — the served text audit (emotion + abuse) of the sessions once: what ingesting them costs;
  two audits    — the naive dry-run: the same sessions audited under current and candidate configuration;
  dry-run       — `AuditPipeline.run_masked_variants` with both stage sets: the models run once;
and the whole request through HTTP (validation, masking, both audits, the comparison) on a SQLite app.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from app.auth.service import create_key
from app.db.migrate import upgrade
from app.db.session import session_scope
from app.main import create_app
from app.settings import REPO_ROOT, Settings
from pipelines.audit import AuditPipeline, mask_conversation, with_lexicon
from pipelines.sensitive_lexicon import SensitiveLexicon, parse_category_file
from pipelines.types import Conversation, Finding, Utterance

DATA = REPO_ROOT.parent / "shared" / "data" / "dialogues" / "jddc_sample_sessions.jsonl"
CANDIDATE = {"category": "服务禁语", "term": "等着吧", "severity": "重要", "scope": "agent"}


def _sessions(limit: int) -> list[dict[str, object]]:
    out = []
    for line in DATA.read_text(encoding="utf-8").splitlines()[:limit]:
        session = json.loads(line)
        turns = [{"speaker": t["role"], "text": t["text"]} for t in session["turns"] if t["text"].strip()]
        if turns:
            out.append(
                {
                    "external_id": f"jddc-{session['session_id']}",
                    "channel": "chat",
                    "agent_id": "A1",
                    "started_at": "2026-11-20T09:30:00+08:00",
                    "utterances": turns,
                }
            )
    return out


def _median(xs: list[float]) -> float:
    return statistics.median(xs)


def main() -> None:
    """CLI: print the three pipeline timings, their ratios and the HTTP dry-run time."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    sessions = _sessions(args.limit)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        settings = Settings(
            data_dir=Path(tmp), database_url=url, model_dir=REPO_ROOT / "var" / "models", start_worker=False
        )
        app = create_app(settings)
        with TestClient(app) as client:
            with session_scope(app.state.session_factory) as s:
                _, key = create_key(s, name="bench", role="supervisor")
            pipeline: AuditPipeline = app.state.runtime.pipeline
            lexicon = pipeline.stages.matcher.lexicon
            extra = parse_category_file(
                "bench",
                json.dumps(
                    {
                        "category": "服务禁语",
                        "terms": [{k: v for k, v in CANDIDATE.items() if k != "category"}],
                    }
                ).encode(),
            )
            candidate = with_lexicon(
                pipeline.stages,
                SensitiveLexicon(
                    entries=lexicon.entries + tuple(extra), allowlist=lexicon.allowlist, version="c"
                ),
            )
            other = AuditPipeline(candidate, emotion=pipeline.emotion, abuse=pipeline.abuse)
            items: list[tuple[Conversation, list[Finding] | None]] = []
            for s_ in sessions:
                utts = tuple(
                    Utterance(i, u["speaker"], u["text"])  # type: ignore[index]
                    for i, u in enumerate(s_["utterances"])  # type: ignore[arg-type]
                )
                masked, pii = mask_conversation(pipeline.stages.masker, Conversation("chat", utts))
                items.append((masked, pii))
            n_utts = sum(len(c.utterances) for c, _ in items)
            one, two, ours, http = [], [], [], []
            body = {"lexicon_entries": [CANDIDATE], "transcripts": sessions}
            headers = {"Authorization": f"Bearer {key}"}
            client.post("/v1/rules/test", json=body, headers=headers)  # warm-up
            for _ in range(args.rounds):
                t = time.perf_counter()
                pipeline.run_masked_many(items)
                one.append(time.perf_counter() - t)
                t = time.perf_counter()
                pipeline.run_masked_many(items)
                other.run_masked_many(items)
                two.append(time.perf_counter() - t)
                t = time.perf_counter()
                pipeline.run_masked_variants(items, [pipeline.stages, candidate])
                ours.append(time.perf_counter() - t)
                t = time.perf_counter()
                resp = client.post("/v1/rules/test", json=body, headers=headers)
                http.append(time.perf_counter() - t)
                assert resp.status_code == 200, resp.text
            result = resp.json()
    load = os.getloadavg()
    print(
        f"{len(items)} JDDC sessions, {n_utts} utterances; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )  # noqa: T201
    print(f"one audit (baseline)      {_median(one):6.2f} s")  # noqa: T201
    print(f"two audits (naive dry-run) {_median(two):6.2f} s  {_median(two) / _median(one):.2f}x baseline")  # noqa: T201
    print(
        f"dry-run, one model pass   {_median(ours):6.2f} s  {_median(ours) / _median(one):.2f}x baseline, "  # noqa: T201
        f"{_median(two) / _median(ours):.2f}x faster than naive"
    )
    print(
        f"POST /v1/rules/test (HTTP) {_median(http):6.2f} s  ({len(items) / _median(http):.1f} conv/s); "  # noqa: T201
        f"gained {result['findings_gained']}, lost {result['findings_lost']}, newly flagged {result['newly_flagged']}"
    )


if __name__ == "__main__":
    main()
