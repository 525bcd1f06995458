"""Spoken personal data silenced in the stored recording (issue 15), through the API.

The customer (right channel) says a mobile number built from AISHELL digit syllables of one speaker
(evaluation/eval_redaction.py), while the agent (left channel) talks over it: the served recording must be
silent there on the customer's channel only, re-transcribing it must not give the number back, and the
conversation must list the redaction.
"""

from __future__ import annotations

import io
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import soundfile as sf
from fastapi.testclient import TestClient

from app.db.session import session_scope
from app.jobs.service import purge_expired_audio
from evaluation.eval_redaction import RATE, Speaker, best_clip_speaker, build_call, make_calls
from models.whisper import load_whisper
from pipelines.asr import TranscribeOptions, Transcriber
from pipelines.pii import PiiMasker
from pipelines.pii_numbers import DIGIT_TABLE

pytestmark = pytest.mark.slow

NUMBER = "13923192113"  # Whisper base reads it back exactly from BEST_CLIPS (evaluation/eval_redaction.py)


@dataclass(frozen=True)
class SpokenNumberCall:
    """The stereo test file and where the customer said the number (samples)."""

    path: Path
    number: str
    pii: tuple[int, int]
    carrier: tuple[tuple[int, int], ...] = ()  # the speech around the number (samples), mono calls only


def _rms(x: npt.NDArray[np.float32]) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


@pytest.fixture(scope="module")
def whisper_base() -> Any:
    """A Whisper model of our own for splicing and re-transcribing (the app's loads lazily in its runner)."""
    from app.settings import REPO_ROOT

    return load_whisper(REPO_ROOT / "var" / "models" / "whisper-base", compute_type="int8", cpu_threads=2)


@pytest.fixture(scope="module")
def best_speaker(whisper_base: Any, shared_data: Path) -> Speaker:
    """The AISHELL speaker whose digit syllables Whisper base reads back (evaluation/eval_redaction.py)."""
    return best_clip_speaker(whisper_base, shared_data / "speech" / "aishell_dev")


@pytest.fixture(scope="module")
def number_call(
    best_speaker: Speaker, shared_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> SpokenNumberCall:
    """Customer on the right: carrier, mobile number, carrier; agent on the left talking during the number."""
    call = build_call(best_speaker, NUMBER, "mobile", random.Random(0))
    pii = (call.pii[0][0], call.pii[-1][1])
    agent, _ = sf.read(shared_data / "speech" / "BAC009S0764W0121.wav", dtype="float32")
    stereo = np.zeros((max(len(call.audio), pii[0] + len(agent)), 2), dtype=np.float32)
    stereo[: len(call.audio), 1] = call.audio
    stereo[pii[0] : pii[0] + len(agent), 0] = agent
    path = tmp_path_factory.mktemp("redaction") / "number.wav"
    sf.write(path, stereo, RATE)
    return SpokenNumberCall(path, NUMBER, pii)


def _upload(
    client: TestClient,
    auth: dict[str, dict[str, str]],
    call: SpokenNumberCall,
    external_id: str,
    layout: str = "stereo_agent_left",
) -> Any:
    data = {"external_id": external_id, "agent_id": "a9", "started_at": "2026-11-21T14:00:00+08:00",
            "channel_layout": layout}  # fmt: skip
    with call.path.open("rb") as fh:
        resp = client.post(
            "/v1/conversations/audio", data=data, files={"file": (call.path.name, fh, "audio/wav")},
            headers=auth["ingest"],
        )  # fmt: skip
    assert resp.status_code == 202, resp.text
    assert client.app.state.job_runner.run_pending() == ["done"]  # type: ignore[attr-defined]
    return resp.json()


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text.translate(DIGIT_TABLE))


class TestSpokenNumberRedacted:
    def test_served_recording_is_silent_where_the_number_was(
        self,
        client: TestClient,
        auth: dict[str, dict[str, str]],
        number_call: SpokenNumberCall,
        whisper_base: Any,
        tmp_path: Path,
    ) -> None:
        accepted = _upload(client, auth, number_call, "redact-1")
        conv_id = accepted["conversation_id"]
        conv = client.get(f"/v1/conversations/{conv_id}", headers=auth["auditor"]).json()
        customer = "".join(u["text"] for u in conv["utterances"] if u["speaker"] == "customer")
        assert number_call.number not in _digits(customer)
        # No run of 9+ digits is stored: a misheard number is masked like a recognised one.
        assert not re.search(r"\d{9,}", "".join(u["text"] for u in conv["utterances"]).translate(DIGIT_TABLE))
        assert [(f["category"], conv["utterances"][f["utterance_index"]]["speaker"])
                for f in conv["findings"] if f["kind"] == "pii"] == [("mobile", "customer")]  # fmt: skip
        (red,) = conv["redactions"]
        assert (red["kind"], red["speaker"], red["channel"]) == ("mobile", "customer", 1)
        start, end = number_call.pii
        assert red["start_ms"] <= start * 1000 // RATE
        assert red["end_ms"] >= -(-end * 1000 // RATE)
        assert red["end_ms"] - red["start_ms"] <= (end - start) * 1000 // RATE + 1500  # not the whole call

        audio = client.get(f"/v1/conversations/{conv_id}/audio", headers=auth["supervisor"])
        assert (audio.status_code, audio.headers["content-type"]) == (200, "audio/wav")
        served, rate = sf.read(io.BytesIO(audio.content), dtype="float32", always_2d=True)
        original, _ = sf.read(number_call.path, dtype="float32", always_2d=True)
        assert (rate, served.shape) == (RATE, original.shape)
        assert _rms(served[start:end, 1]) == 0.0
        assert _rms(original[start:end, 1]) > 0.01
        # The agent talking at the same time on the other channel is untouched.
        assert np.array_equal(served[:, 0], original[:, 0])
        # Outside the redaction the customer's speech is the same (16-bit WAV round trip).
        a, b = red["start_ms"] * RATE // 1000, red["end_ms"] * RATE // 1000
        assert np.allclose(
            np.delete(served[:, 1], np.s_[a:b]), np.delete(original[:, 1], np.s_[a:b]), atol=1e-4
        )

        redacted = tmp_path / "served.wav"
        redacted.write_bytes(audio.content)
        again = Transcriber(whisper_base, TranscribeOptions()).transcribe(
            redacted, layout="stereo_agent_left"
        )
        text = "".join(u.text for u in again.utterances if u.speaker == "customer")
        assert number_call.number not in _digits(text)
        assert PiiMasker().mask(text).spans == ()

        # Nothing unredacted is left on disk, and there is no original to serve.
        audio_dir = Path(client.app.state.settings.audio_dir)  # type: ignore[attr-defined]
        assert [p.name for p in audio_dir.glob(f"{conv_id}*")] == [f"{conv_id}.redacted.wav"]
        missing = client.get(f"/v1/conversations/{conv_id}/audio/original", headers=auth["admin"])
        assert (missing.status_code, missing.json()["error"]["code"]) == (404, "no_original_audio")

    def test_original_kept_for_admins_only_when_asked(
        self,
        client: TestClient,
        auth: dict[str, dict[str, str]],
        number_call: SpokenNumberCall,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        settings = client.app.state.settings  # type: ignore[attr-defined]
        monkeypatch.setattr(settings, "keep_unredacted_audio", True)
        conv_id = _upload(client, auth, number_call, "redact-keep")["conversation_id"]
        url = f"/v1/conversations/{conv_id}/audio/original"
        assert client.get(url, headers=auth["supervisor"]).status_code == 403
        assert client.get(url, headers=auth["auditor"]).status_code == 403
        original = client.get(url, headers=auth["admin"])
        assert (original.status_code, original.content) == (200, number_call.path.read_bytes())
        served = client.get(f"/v1/conversations/{conv_id}/audio", headers=auth["admin"])
        assert served.content != original.content

        # Retention deletes both.
        monkeypatch.setattr(settings, "audio_retention_days", 0)
        factory = client.app.state.session_factory  # type: ignore[attr-defined]
        with session_scope(factory) as s:
            assert purge_expired_audio(s, settings=settings) == 1
        audio_dir = Path(settings.audio_dir)
        assert list(audio_dir.glob(f"{conv_id}*")) == []


@pytest.fixture(scope="module")
def dropped_number_call(
    best_speaker: Speaker, whisper_base: Any, tmp_path_factory: pytest.TempPathFactory
) -> SpokenNumberCall:
    """A mono call whose number Whisper base drops from the transcript.

    Which call that is depends on the CPU: Whisper decodes the same audio differently on AVX2 and AVX-512
    cores (call 2 of the evaluation, an ID number, on the machines CI has run on; on an AMD EPYC Zen 4 the
    first pass writes that number down, as 27 digits, and drops call 8's instead). So the calls are decoded
    here as the service's first pass decodes them, call 2 first, and the first whose transcript holds no
    number is used.
    """
    transcriber = Transcriber(whisper_base, TranscribeOptions())
    folder = tmp_path_factory.mktemp("second-look")
    calls = make_calls([best_speaker], 12)
    for n in (2, *(i for i in range(len(calls)) if i != 2)):
        call = calls[n][1]
        path = folder / f"call{n}.wav"
        sf.write(path, call.audio, RATE)
        text = "".join(u.text for u in transcriber.transcribe(path, layout="mono").utterances)
        if len(_digits(text)) < 9 and not PiiMasker().mask(text).spans:
            return SpokenNumberCall(path, call.number, (call.pii[0][0], call.pii[-1][1]), tuple(call.carrier))
    pytest.skip(f"Whisper base on this CPU reads all {len(calls)} numbers: none is left for the second look")


class TestSecondLook:
    def test_a_number_missing_from_the_transcript_is_still_silenced(
        self,
        client: TestClient,
        auth: dict[str, dict[str, str]],
        dropped_number_call: SpokenNumberCall,
        whisper_base: Any,
        tmp_path: Path,
    ) -> None:
        call = dropped_number_call
        conv_id = _upload(client, auth, call, "redact-2nd", layout="mono")["conversation_id"]
        conv = client.get(f"/v1/conversations/{conv_id}", headers=auth["auditor"]).json()
        text = "".join(u["text"] for u in conv["utterances"])
        # The transcript never had the number (so no PII finding), the recording still said it.
        assert len(_digits(text)) < 9
        assert [f for f in conv["findings"] if f["kind"] == "pii"] == []
        (red,) = conv["redactions"]
        start, end = call.pii
        # What the masker read in the second decoding: a valid ID when it got every digit right, a mobile
        # number when 11 of them made one (Whisper drops digits it half hears), else a run of 9+ digits.
        assert (red["kind"] in ("id_card", "mobile", "digits"), red["channel"]) == (True, 0)
        assert red["start_ms"] <= start * 1000 // RATE
        assert red["end_ms"] >= -(-end * 1000 // RATE)

        audio = client.get(f"/v1/conversations/{conv_id}/audio", headers=auth["supervisor"])
        served, _ = sf.read(io.BytesIO(audio.content), dtype="float32")
        assert _rms(served[start:end]) == 0.0
        # The carriers stay: the speech either side loses at most 2 % of the call to silence, the evaluation's
        # target (evaluation/eval_redaction.py). The silent gaps around the number may go.
        original, _ = sf.read(call.path, dtype="float32")
        lost = sum(
            int(np.count_nonzero((served[a:b] == 0.0) & (original[a:b] != 0.0))) for a, b in call.carrier
        )
        assert call.carrier
        assert lost <= 0.02 * len(original)
        redacted = tmp_path / "served.wav"
        redacted.write_bytes(audio.content)
        again = Transcriber(whisper_base, TranscribeOptions()).transcribe(redacted, layout="mono")
        text = "".join(u.text for u in again.utterances)
        assert call.number not in _digits(text)
        assert PiiMasker().mask(text).spans == ()
