"""The console in a real browser: the recording player, its jumps to a turn, and the silenced stretches on it.

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

from app.settings import REPO_ROOT
from tests.web.console_support import (
    NEEDS_CHROMIUM,
    Console,
    cookie_api,
    until,
)

pytestmark = NEEDS_CHROMIUM


NUMBER = "13923192113"  # Whisper base reads it back from the BEST_CLIPS syllables (tests/app/test_audio_redaction.py)


class TestRecording:
    def test_player_plays_the_recording_jumps_to_a_turn_and_marks_redactions(
        self, console: Console, ingest: httpx.Client, tmp_path: Path
    ) -> None:
        import random

        import numpy as np
        import soundfile as sf

        from evaluation.eval_redaction import best_clip_speaker, build_call
        from models.whisper import load_whisper
        from tests.conftest import SHARED_DATA

        # Agent (left) says W0121 from 0.5 s; customer (right): an utterance, a mobile number read digit by
        # digit, another utterance (AISHELL syllables of one speaker, evaluation/eval_redaction.py).
        whisper = load_whisper(
            REPO_ROOT / "var" / "models" / "whisper-base", compute_type="int8", cpu_threads=2
        )
        speaker = best_clip_speaker(whisper, SHARED_DATA / "speech" / "aishell_dev")
        said = build_call(speaker, NUMBER, "mobile", random.Random(0))
        agent, sr = sf.read(SHARED_DATA / "speech" / "BAC009S0764W0121.wav", dtype="float32")
        call = np.zeros((max(len(said.audio), sr // 2 + len(agent)), 2), dtype=np.float32)
        call[sr // 2 : sr // 2 + len(agent), 0] = agent
        call[: len(said.audio), 1] = said.audio
        duration_s = len(call) / sr
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
        (red,) = conv["redactions"]
        # A valid mobile number when every digit was heard right, else a run of 9+ digits: silenced either way.
        kind = {"mobile": "手机号", "digits": "数字串"}[red["kind"]]
        assert (red["speaker"], red["channel"]) == ("customer", 1)
        page = console.page
        console.go(f"c/{conv_id}")
        page.wait_for_selector("#player")
        until(page, "document.getElementById('player').readyState >= 1")  # served with the cookie
        assert abs(page.evaluate("document.getElementById('player').duration") - duration_s) < 0.2

        # One shaded mark on the bar under the player, where the number was silenced.
        until(page, "document.getElementById('redaction-bar')?.classList.contains('placed')")
        marks = page.evaluate(
            """[...document.querySelectorAll('#redaction-bar .redaction')].map((m) => {
                 const bar = m.parentElement.getBoundingClientRect(), box = m.getBoundingClientRect();
                 return {title: m.title, left: (box.left - bar.left) / bar.width, width: box.width / bar.width};
               })"""
        )
        assert len(marks) == 1
        (mark,) = marks
        assert mark["title"].startswith(f"已消音（{kind}）")
        assert abs(mark["left"] - red["start_ms"] / 1000 / duration_s) < 0.01
        assert abs(mark["width"] - (red["end_ms"] - red["start_ms"]) / 1000 / duration_s) < 0.01
        # A click on the mark plays from the silenced stretch.
        page.click("#redaction-bar .redaction")
        until(
            page, f"Math.abs(document.getElementById('player').currentTime - {red['start_ms'] / 1000}) < 0.3"
        )

        turn = next(u for u in conv["utterances"] if u["speaker"] == "agent")
        page.click(f"#u-{turn['index']} .ts")
        until(
            page, f"Math.abs(document.getElementById('player').currentTime - {turn['start_ms'] / 1000}) < 0.6"
        )
        console.shot("conversation-recording")
