"""Audio redaction: masked spans mapped to word times, padded, silenced on the right channel, re-encoded."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import soundfile as sf

from pipelines.pii import PiiMasker, PiiSpan
from pipelines.redact import (
    Redaction,
    char_range_ms,
    fit_to_pauses,
    mask_digit_runs,
    merge_redactions,
    plan_redactions,
    redact_file,
    silence,
    snap_to_pauses,
)
from pipelines.types import Conversation, Utterance, WordTiming

RATE = 16_000


def words_of(text: str, pieces: list[tuple[str, int, int]]) -> tuple[WordTiming, ...]:
    """Word timings for consecutive pieces of `text` (each piece found after the previous one)."""
    out: list[WordTiming] = []
    cursor = 0
    for piece, start_ms, end_ms in pieces:
        at = text.index(piece, cursor)
        out.append(WordTiming(at, at + len(piece), start_ms, end_ms))
        cursor = at + len(piece)
    return tuple(out)


# Whisper's way with a spoken number: digit groups as words, punctuation glued to them.
TEXT = "我的电话是139,2131,9231好的"
WORDS = words_of(
    TEXT,
    [("我", 1000, 1200), ("的", 1200, 1300), ("电话", 1300, 1700), ("是", 1700, 1900), ("139,", 1900, 2600),
     ("2131,", 2600, 3400), ("9231", 3400, 4200), ("好", 4300, 4500), ("的", 4500, 4600)],
)  # fmt: skip


class TestMaskerSourceOffsets:
    def test_source_offsets_point_at_the_original_value(self) -> None:
        masked = PiiMasker().mask(TEXT)
        (span,) = masked.spans
        assert (span.kind, span.source_start, span.source_end) == ("mobile", 5, 18)
        assert TEXT[span.source_start : span.source_end] == "139,2131,9231"
        assert masked.text[span.start : span.end] == "139****9231"

    def test_spans_without_source_offsets_still_compare_equal(self) -> None:
        assert PiiMasker().mask("13912345678").spans == (PiiSpan("mobile", 0, 11),)


class TestCharRangeMs:
    def test_every_overlapping_word(self) -> None:
        utt = Utterance(0, "customer", TEXT, 1000, 4600, WORDS)
        assert char_range_ms(utt, 5, 18) == (1900, 4200)

    def test_partial_overlap_takes_the_whole_word(self) -> None:
        utt = Utterance(0, "customer", TEXT, 1000, 4600, WORDS)
        assert char_range_ms(utt, 6, 10) == (1900, 3400)  # "39,21": two words

    def test_no_word_falls_back_to_the_gap_then_the_utterance(self) -> None:
        unplaced = tuple(w for w in WORDS if w.start_ms < 1900 or w.start_ms > 4200)
        utt = Utterance(0, "customer", TEXT, 1000, 4600, unplaced)
        assert char_range_ms(utt, 5, 18) == (1900, 4300)
        assert char_range_ms(Utterance(0, "customer", TEXT, 1000, 4600), 5, 18) == (1000, 4600)


class TestPlanRedactions:
    def test_padded_on_the_speakers_channel(self) -> None:
        utts = [
            Utterance(0, "agent", "请问您的电话", 0, 900, words_of("请问您的电话", [("请问", 0, 400), ("您的电话", 400, 900)])),
            Utterance(1, "customer", TEXT, 1000, 4600, WORDS),
        ]  # fmt: skip
        plan = plan_redactions(PiiMasker(), utts, layout="stereo_agent_left", duration_ms=4300, pad_ms=200)
        assert plan == (Redaction(1700, 4300, "mobile", "customer", 1, 1),)  # end clamped to the file

    def test_mono_and_several_values(self) -> None:
        text = "身份证11010519491231002X卡号6222021234567890128"
        words = words_of(text, [("身份证", 0, 500), ("11010519491231002X", 500, 3000), ("卡号", 3000, 3300),
                                ("6222021234567890128", 3300, 6000)])  # fmt: skip
        plan = plan_redactions(PiiMasker(), [Utterance(0, "unknown", text, 0, 6000, words)],
                               layout="mono", duration_ms=10_000, pad_ms=150)  # fmt: skip
        assert [(r.start_ms, r.end_ms, r.kind, r.channel) for r in plan] == [
            (350, 3150, "id_card", 0),
            (3150, 6150, "bank_card", 0),
        ]

    def test_nothing_to_redact(self) -> None:
        utt = Utterance(0, "customer", "订单号12345678901还没到", 0, 2000, ())
        assert plan_redactions(PiiMasker(), [utt], layout="mono", duration_ms=2000) == ()


class TestSilence:
    def test_zeroes_only_the_range_on_its_channel(self) -> None:
        samples = np.ones((RATE * 2, 2), dtype=np.float32)
        out = silence(samples, RATE, [Redaction(500, 1000, "mobile", "customer", 1, 0)])
        assert float(np.abs(out[8000:16000, 1]).max()) == 0.0
        assert int((out[:, 1] == 0).sum()) == 8000
        assert float(out[:, 0].min()) == 1.0
        assert float(samples.min()) == 1.0  # the input is not modified

    def test_range_past_the_end_is_clipped(self) -> None:
        out = silence(
            np.ones((100, 1), dtype=np.float32), RATE, [Redaction(0, 60_000, "qq", "unknown", 0, 0)]
        )
        assert int(np.count_nonzero(out)) == 0


class TestRedactFile:
    def test_wav_keeps_format_and_encoding(self, tmp_path: Path) -> None:
        tone = (0.3 * np.sin(np.arange(RATE * 2) * 2 * np.pi * 440 / 8000)).astype(np.float32)
        src = tmp_path / "call.wav"
        sf.write(src, np.stack([tone, tone], axis=1), 8000, subtype="ULAW")
        result = redact_file(src, [Redaction(500, 1500, "mobile", "agent", 0, 0)])
        assert (result.suffix, result.content_type) == (".wav", "audio/wav")
        data, rate = sf.read(io.BytesIO(result.data), dtype="float32", always_2d=True)
        assert (rate, data.shape, sf.info(io.BytesIO(result.data)).subtype) == (8000, (32000, 2), "ULAW")
        assert float(np.sqrt(np.mean(data[4000:12000, 0] ** 2))) == pytest.approx(0.0, abs=1e-3)
        assert float(np.sqrt(np.mean(data[4000:12000, 1] ** 2))) == pytest.approx(0.3 / np.sqrt(2), rel=0.05)

    def test_other_formats_become_wav(self, tmp_path: Path) -> None:
        import av

        src = tmp_path / "call.mp3"
        tone = (0.3 * np.sin(np.arange(RATE * 2) * 2 * np.pi * 440 / RATE)).astype(np.float32)
        with av.open(str(src), mode="w") as out:
            stream = out.add_stream("libmp3lame", rate=RATE, layout="mono")
            frame = av.AudioFrame.from_ndarray(tone.reshape(1, -1), format="flt", layout="mono")
            frame.sample_rate = RATE
            out.mux(stream.encode(frame))
            out.mux(stream.encode(None))
        result = redact_file(src, [Redaction(500, 1500, "mobile", "unknown", 0, 0)])
        assert (result.suffix, result.content_type) == (".wav", "audio/wav")
        data, rate = sf.read(io.BytesIO(result.data), dtype="float32")
        assert rate == RATE
        assert float(np.abs(data[8000:24000]).max()) == 0.0
        assert float(np.sqrt(np.mean(data[26000:30000] ** 2))) > 0.1


class TestDigitRuns:
    def test_misheard_number_is_silenced_too(self) -> None:
        text = "设定29多1993 1393 1999想听歌曲"
        words = words_of(text, [("设定", 0, 500), ("29", 500, 900), ("多", 900, 1000), ("1993", 1500, 2500),
                                ("1393", 2600, 3600), ("1999", 3700, 4700), ("想听歌曲", 5200, 6000)])  # fmt: skip
        utt = Utterance(0, "unknown", text, 0, 6000, words)
        plan = plan_redactions(PiiMasker(), [utt], layout="mono", duration_ms=6000, pad_ms=100)
        assert [(r.start_ms, r.end_ms, r.kind) for r in plan] == [(1400, 4800, "digits")]
        assert plan_redactions(PiiMasker(), [utt], layout="mono", duration_ms=6000, min_digit_run=0) == ()

    def test_prices_dates_and_valid_numbers_once(self) -> None:
        text = "12.50元 2023-01-15 到 一三九一二三四五六七八 订单号 12345678901"
        words = tuple(WordTiming(i, i + 1, i * 100, i * 100 + 100) for i in range(len(text)))
        plan = plan_redactions(PiiMasker(), [Utterance(0, "unknown", text, 0, 9000, words)], layout="mono",
                               duration_ms=9000, pad_ms=0)  # fmt: skip
        start = text.index("一三九")
        assert [(r.start_ms, r.end_ms, r.kind) for r in plan] == [(start * 100, (start + 11) * 100, "mobile")]


class TestSnapToPauses:
    def test_overlong_first_word_trimmed_at_its_pause(self) -> None:
        # Carrier until 1.0 s, a pause, digits from 1.5 s; Whisper's first digit word "starts" at 0.9 s.
        audio = np.zeros(RATE * 4, dtype=np.float32)
        audio[: RATE * 1] = 0.3
        audio[int(RATE * 1.5) : RATE * 3] = 0.3
        text = "好的13912345678"
        words = words_of(
            text, [("好的", 0, 900), ("139", 900, 2000), ("1234", 2000, 2500), ("5678", 2500, 3000)]
        )
        utt = Utterance(0, "unknown", text, 0, 3000, words)
        assert snap_to_pauses(utt, 2, 13, audio, RATE) == (1500, 3000)
        plan = plan_redactions(PiiMasker(), [utt], layout="mono", duration_ms=4000, pad_ms=100, audio=[audio])
        assert [(r.start_ms, r.end_ms) for r in plan] == [(1400, 3100)]

    def test_words_of_ordinary_length_are_left_alone(self) -> None:
        audio = np.full(RATE * 4, 0.3, dtype=np.float32)
        audio[int(RATE * 1.6) : int(RATE * 1.9)] = 0.0  # a pause between digit groups
        text = "13912345678"
        words = words_of(text, [("139", 1000, 1500), ("1234", 1500, 2100), ("5678", 2100, 2600)])
        utt = Utterance(0, "unknown", text, 1000, 2600, words)
        assert snap_to_pauses(utt, 0, 11, audio, RATE) == (1000, 2600)


class TestFitToPauses:
    @staticmethod
    def speech(*spans_s: tuple[float, float], length_s: float = 6.0) -> npt.NDArray[np.float32]:
        audio = np.zeros(int(RATE * length_s), dtype=np.float32)
        for a, b in spans_s:
            audio[int(RATE * a) : int(RATE * b)] = 0.3
        return audio

    def test_edges_go_a_margin_into_the_bounding_pauses_not_the_padding(self) -> None:
        # Carrier to 1.0 s, number 1.5-3.0 s, carrier from 3.3 s; Whisper's edges 1.45 s and 2.9 s.
        audio = self.speech((0.0, 1.0), (1.5, 3.0), (3.3, 5.0))
        assert fit_to_pauses(audio, RATE, 1450, 2900, pad_ms=200, reach_ms=(200, 200)) == (1400, 3100)

    def test_a_late_start_reaches_back_to_the_onset(self) -> None:
        audio = self.speech((0.0, 1.0), (1.5, 3.0), (3.3, 5.0))
        assert fit_to_pauses(audio, RATE, 1650, 3000, pad_ms=200, reach_ms=(200, 200))[0] == 1400

    def test_an_edge_inside_a_pause_moves_to_its_end(self) -> None:
        audio = self.speech((0.0, 1.0), (1.5, 3.0), (3.3, 5.0))
        assert fit_to_pauses(audio, RATE, 1100, 3150, pad_ms=200, reach_ms=(200, 200)) == (1400, 3100)

    def test_speech_running_on_keeps_the_padding(self) -> None:
        audio = self.speech((0.0, 5.0))
        assert fit_to_pauses(audio, RATE, 1500, 3000, pad_ms=200, reach_ms=(200, 200)) == (1300, 3200)

    def test_a_pause_between_digit_groups_never_cuts_the_value(self) -> None:
        # Groups 1.0-1.9 and 2.15-3.0 s: the pause between them is deeper inside than `reach_ms`.
        audio = self.speech((0.0, 0.5), (1.0, 1.9), (2.15, 3.0), (3.5, 5.0))
        assert fit_to_pauses(audio, RATE, 1000, 3000, pad_ms=200, reach_ms=(300, 300)) == (900, 3100)


class TestMergeRedactions:
    def test_overlaps_on_one_channel_merge_and_keep_the_masker_kind(self) -> None:
        merged = merge_redactions(
            [
                Redaction(1000, 2000, "digits", "unknown", 0, -1),
                Redaction(1500, 2600, "mobile", "unknown", 0, 3),
                Redaction(1200, 1800, "digits", "customer", 1, 4),
                Redaction(2600, 3000, "qq", "unknown", 0, 5),  # touching, not overlapping: its own span
            ]
        )
        assert merged == (
            Redaction(1000, 2600, "mobile", "unknown", 0, -1),
            Redaction(1200, 1800, "digits", "customer", 1, 4),
            Redaction(2600, 3000, "qq", "unknown", 0, 5),
        )


class TestTranscriptDigitRuns:
    """The stored call transcript masks the digit runs the recording silences (a misheard number stays PII)."""

    def conv(self, *texts: str) -> Conversation:
        return Conversation("phone", tuple(Utterance(i, "customer", t) for i, t in enumerate(texts)))

    def test_misheard_number_is_masked_with_its_offsets(self) -> None:
        masked, findings = mask_digit_runs(self.conv("好的", "我的号码是1191231912113对吧"))
        assert masked.utterances[0].text == "好的"
        assert masked.utterances[1].text == "我的号码是*************对吧"
        assert [(f.kind, f.category, f.utterance_index, f.start, f.end) for f in findings] == [
            ("pii", "digits", 1, 5, 18)
        ]

    def test_spoken_digits_and_separators(self) -> None:
        masked, findings = mask_digit_runs(self.conv("幺三九 一二三四 五六七八"))
        assert masked.utterances[0].text == "*** **** ****"
        assert len(findings) == 1

    def test_order_numbers_short_runs_and_switched_off(self) -> None:
        texts = ("订单号是123456789012", "验证码12345678", "我的号码是1191231912113")
        masked, findings = mask_digit_runs(self.conv(*texts[:2]))
        assert [u.text for u in masked.utterances] == list(texts[:2])
        assert findings == []
        masked, findings = mask_digit_runs(self.conv(texts[2]), min_digit_run=0)
        assert (masked.utterances[0].text, findings) == (texts[2], [])
