"""Concurrent clients against a live `audit serve` (real uvicorn, real models) on SQLite and PostgreSQL.

The short CI form of `benchmarks/bench_load.py`: four clients start at the same moment, all posting the same
transcript, then each a batch, a single transcript and a re-post, searching and reviewing. Every answer must be the expected one and the
service must then hold every acknowledged conversation exactly once, `analysed`, none left `received`.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from benchmarks.bench_load import check, run_load, started_server
from tests.conftest import ensure_postgres
from tests.factories.conversations import transcript, utterance

CLIENTS = 4
BATCH = 10
# Every client posts the same transcript at once ("race"), then runs the rest in turn.
SCRIPT = ["race", "batch", "post", "repost", "queue", "keyword", "q", "review"]
ONE_EACH = {"batch": 200, "post": 201, "repost": 200, "queue": 200, "keyword": 200, "q": 200, "review": 200}


@pytest.mark.slow
class TestConcurrentClients:
    @pytest.mark.parametrize("db", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
    def test_nothing_lost_duplicated_or_stuck(self, db: str, tmp_path: Path) -> None:
        if db == "postgres":
            ensure_postgres()  # starts the local server if it is down
        name = f"{os.environ.get('AUDIT_TEST_PG_DB', 'audit_test')}_live"
        with started_server(db, tmp_path, postgres_name=name) as (url, keys, database_url):
            report = run_load(url, keys, clients=CLIENTS, batch=BATCH, script=SCRIPT)
            result = check(url, keys, report, database_url=database_url)

        assert report.unexpected == []
        # The raced transcript is created once and returned to the other clients.
        raced = Counter({("race", 201): 1, ("race", 200): CLIENTS - 1})
        assert report.statuses == Counter(dict.fromkeys(ONE_EACH.items(), CLIENTS)) + raced
        stored = CLIENTS * (BATCH + 1) + 1  # a batch and a single post each, and the raced one
        assert report.created == stored
        assert (result.acknowledged, result.stored) == (stored, stored)
        assert (result.lost, result.stuck, result.duplicated) == (0, 0, 0)
        assert result.not_analysed == Counter()
        assert result.database is not None
        counted = (result.database["stored"], result.database["duplicated"], result.database["received"])
        assert counted == (stored, 0, 0)


class TestMoreWritersThanThreads:
    def test_every_one_queues_and_succeeds(self, client: TestClient, auth: dict[str, dict[str, str]]) -> None:
        # 64 writers at once, more than the 40 threads that run routes: without admission they took every
        # thread waiting for SQLite's write lock while its holder waited for a thread (timeouts, then 503s).
        posted = client.post(
            "/v1/conversations",
            json=transcript("many-1", [utterance("customer", "你好")]),
            headers=auth["ingest"],
        )
        assert posted.status_code == 201
        url = f"/v1/conversations/{posted.json()['id']}/review"
        writers = 64
        start = threading.Barrier(writers)

        def review(n: int) -> list[int]:
            start.wait()
            body = {"status": "reviewed", "note": f"n{n}"}
            return [client.post(url, json=body, headers=auth["supervisor"]).status_code for _ in range(2)]

        with ThreadPoolExecutor(writers) as pool:
            statuses = Counter(s for r in pool.map(review, range(writers)) for s in r)
        assert statuses == Counter({200: 2 * writers})
        history = client.get(f"{url}s", headers=auth["supervisor"]).json()["history"]
        assert len(history) == 2 * writers
