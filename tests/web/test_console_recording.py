"""The console in a real browser: the recording player and its jumps to a turn.

Playwright drives Debian's Chromium against a real `audit serve` seeded by `audit demo load` (fixtures in
tests/web/conftest.py, helpers in tests/web/console_support.py). Every test fails on a script error or a
Content-Security-Policy violation; screenshots go to var/screenshots/ (1366×768).
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from tests.web.console_support import (
    NEEDS_CHROMIUM,
    Console,
    cookie_api,
    until,
)

pytestmark = NEEDS_CHROMIUM


class TestRecording:
    def test_player_plays_the_recording_and_jumps_to_a_turn(
        self, console: Console, ingest: httpx.Client, tmp_path: Path
    ) -> None:
        import numpy as np
        import soundfile as sf

        from tests.conftest import SHARED_DATA

        # Agent (left) says W0121 from 0.5 s, customer (right) W0122 from 6 s: an 11-second stereo call.
        agent, sr = sf.read(SHARED_DATA / "speech" / "BAC009S0764W0121.wav", dtype="float32")
        customer, _ = sf.read(SHARED_DATA / "speech" / "BAC009S0764W0122.wav", dtype="float32")
        call = np.zeros((sr * 11, 2), dtype=np.float32)
        call[sr // 2 : sr // 2 + len(agent), 0] = agent
        call[sr * 6 : sr * 6 + len(customer), 1] = customer
        path = tmp_path / "call.wav"
        sf.write(path, call, sr)
        with path.open("rb") as fh:
            accepted = ingest.post(
                "/v1/conversations/audio",
                data={
                    "external_id": "rec-browser",
                    "agent_id": "A4",
                    "channel_layout": "stereo_agent_left",
                    "started_at": datetime.now(ZoneInfo("Asia/Shanghai")).isoformat(),
                },
                files={"file": ("call.wav", fh, "audio/wav")},
            )
        assert accepted.status_code == 202, accepted.text
        conv_id = accepted.json()["conversation_id"]
        console.sign_in("demo-supervisor")
        api = cookie_api(console)
        deadline = time.monotonic() + 240
        while (conv := api.get(f"/v1/conversations/{conv_id}").json())["status"] != "analysed":
            assert conv["status"] == "pending_transcription"
            assert time.monotonic() < deadline
            time.sleep(1)
        page = console.page
        console.go(f"c/{conv_id}")
        page.wait_for_selector("#player")
        until(page, "document.getElementById('player').readyState >= 1")  # served with the cookie
        assert abs(page.evaluate("document.getElementById('player').duration") - 11.0) < 0.2
        turn = next(u for u in conv["utterances"] if u["speaker"] == "customer")
        page.click(f"#u-{turn['index']} .ts")
        until(
            page, f"Math.abs(document.getElementById('player').currentTime - {turn['start_ms'] / 1000}) < 0.6"
        )
        console.shot("conversation-recording")
