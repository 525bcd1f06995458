"""Service-norm checks on real JDDC chats and on timed phone calls; rules.yaml validation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pipelines.rules import RuleSet, RuleSetError, ServiceNormChecker, load_rules
from pipelines.types import Conversation, EmotionPrediction, Finding, Severity, Utterance

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO / "../shared/data"
RULES = REPO / "lexicons/rules.yaml"


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return load_rules(RULES)


@pytest.fixture(scope="module")
def checker(rules: RuleSet) -> ServiceNormChecker:
    return ServiceNormChecker(rules)


@pytest.fixture(scope="module")
def jddc() -> dict[str, Conversation]:
    lines = (SHARED_DATA / "dialogues/jddc_sample_sessions.jsonl").read_text(encoding="utf-8").splitlines()
    out = {}
    for line in lines:
        row: dict[str, Any] = json.loads(line)
        utts = tuple(Utterance(i, t["role"], t["text"]) for i, t in enumerate(row["turns"]))
        out[row["session_id"][:8]] = Conversation("chat", utts)
    return out


def rules_of(findings: list[Finding]) -> list[tuple[str, int | None]]:
    return [(f.rule, f.utterance_index) for f in findings]


def utt(index: int, speaker: str, text: str, start: int | None = None, end: int | None = None) -> Utterance:
    return Utterance(index, speaker, text, start, end)  # type: ignore[arg-type]


def emotion(label: str, confidence: float) -> EmotionPrediction:
    return EmotionPrediction(label, confidence)  # type: ignore[arg-type]


class TestLoadRules:
    def test_repo_rules(self, rules: RuleSet) -> None:
        assert len(rules.version) == 12
        assert rules.flag_min_severity is Severity.IMPORTANT
        assert rules.flag_score_below == 60.0
        assert [n.id for n in rules.norms] == [
            "greeting", "closing", "empathy", "empathy_shown", "refusal", "polite", "customer_ends_angry",
            "first_response", "slow_reply", "silence", "interruption", "speaker_roles",
        ]  # fmt: skip
        first = rules.norm("first_response")
        assert first is not None
        assert (first.limit_for("phone"), first.limit_for("chat")) == (30000, 60000)
        assert sum(d.points for d in rules.scoring.dimensions) == 100

    @pytest.mark.parametrize(
        ("old", "new", "message"),
        [
            ("  greeting:\n", "  greetings:\n", r"norms: unknown key\(s\) greetings"),
            ("min_severity: 重要", "min_severity: 很重要", "flag.min_severity: unknown severity"),
            ("{name: 情绪, points: 15}", "{name: 情绪, points: 20}", "points must add up to 100"),
            ("    first_agent_turns: 2", "    first_turns: 2", "norms.greeting: unknown key"),
            ("emotions: [angry]", "emotions: [furious]", "unknown emotion"),
            ("score_below: 60", "score_below: [60", "invalid YAML"),
            ("dimension: emotion, points: 3,", "dimension: mood, points: 3,", "expected one of"),
            ("max_ms: {phone: 30000, chat: 60000}\n  slow_reply", "max_ms: {phone: -1, chat: 60000}\n  slow_reply",
             r"first_response.phone: expected a number"),
        ],
    )  # fmt: skip
    def test_bad_yaml_names_the_key(self, tmp_path: Path, old: str, new: str, message: str) -> None:
        text = RULES.read_text(encoding="utf-8")
        assert old in text
        bad = tmp_path / "rules.yaml"
        bad.write_text(text.replace(old, new, 1), encoding="utf-8")
        with pytest.raises(RuleSetError, match=message):
            load_rules(bad)

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(RuleSetError, match="cannot read rules"):
            load_rules(tmp_path / "nope.yaml")


class TestRealChats:
    def test_compliant_session_has_no_findings(
        self, checker: ServiceNormChecker, jddc: dict[str, Conversation]
    ) -> None:
        findings, metrics = checker.check(jddc["0000b82c"])
        assert findings == []
        assert metrics == {
            "first_response_ms": None, "avg_response_ms": None, "max_response_ms": None, "long_silences": None,
            "interruptions": None, "agent_turns": 5, "customer_turns": 5, "polite_ratio": 0.8,
        }  # fmt: skip

    def test_missing_empathy_after_negative_cue(
        self, checker: ServiceNormChecker, jddc: dict[str, Conversation]
    ) -> None:
        # Customer: "我老婆说不喜欢 郁闷"; the agent answers "亲订单" and "亲 取消订单么".
        findings, _ = checker.check(jddc["016d7a3e"])
        assert findings == [
            Finding(kind="service_norm", category="empathy", severity=Severity.GENERAL, rule="norm:empathy",
                    utterance_index=3, detail="客户第3句情绪负面（「郁闷」），其后2句客服回复未安抚"),
        ]  # fmt: skip

    def test_bare_refusal_and_missing_greeting(
        self, checker: ServiceNormChecker, jddc: dict[str, Conversation]
    ) -> None:
        findings, _ = checker.check(jddc["f16084d1"])  # the agent's first turn is just "没有"
        assert rules_of(findings) == [("norm:greeting", 1), ("norm:refusal", 1)]
        refusal = findings[1]
        assert (refusal.term, refusal.start, refusal.end, refusal.severity) == (
            "没有",
            0,
            2,
            Severity.GENERAL,
        )

    def test_empathy_shown(self, checker: ServiceNormChecker, jddc: dict[str, Conversation]) -> None:
        findings, _ = checker.check(jddc["32697b45"])
        assert rules_of(findings) == [("norm:empathy_shown", 1)]
        assert findings[0].severity is Severity.NONE

    def test_rates_over_all_sessions(
        self, checker: ServiceNormChecker, jddc: dict[str, Conversation]
    ) -> None:
        counts: dict[str, int] = {}
        for conversation in jddc.values():
            for f in checker.check(conversation)[0]:
                counts[f.rule] = counts.get(f.rule, 0) + 1
        # JDDC sessions are windows cut out of longer chats, so many start after the greeting.
        assert len(jddc) == 994
        assert counts == {
            "norm:greeting": 237, "norm:closing": 79, "norm:empathy": 69, "norm:empathy_shown": 22,
            "norm:refusal": 1,
        }  # fmt: skip


class TestWording:
    def test_refusal_only_when_bare(self, checker: ServiceNormChecker) -> None:
        conv = Conversation("chat", (
            utt(0, "customer", "在吗"), utt(1, "agent", "您好，很高兴为您服务"), utt(2, "customer", "能便宜吗"),
            utt(3, "agent", "不知道。"), utt(4, "agent", "不好意思，没有优惠"), utt(5, "agent", "不行"),
            utt(6, "agent", "没有的哦，请问还有什么可以帮您"),
        ))  # fmt: skip
        findings, _ = checker.check(conv)
        assert [(f.rule, f.utterance_index, f.term) for f in findings] == [
            ("norm:refusal", 3, "不知道"), ("norm:refusal", 5, "不行"),
        ]  # fmt: skip

    def test_emotion_model_overrides_cue_words(self, checker: ServiceNormChecker) -> None:
        conv = Conversation("chat", (
            utt(0, "agent", "您好"), utt(1, "customer", "快递怎么还没到"), utt(2, "agent", "帮您查询"),
            utt(3, "customer", "好的"), utt(4, "agent", "已经到站点了，祝您生活愉快"),
        ))  # fmt: skip
        neutral = [None, emotion("neutral", 0.8), None, emotion("neutral", 0.9), None]
        assert checker.check(conv, emotions=neutral)[0] == []
        angry = [None, emotion("angry", 0.95), None, emotion("neutral", 0.9), None]
        assert rules_of(checker.check(conv, emotions=angry)[0]) == [("norm:empathy", 2)]
        # No prediction for a turn: its cue words (怎么还没) stand in.
        assert rules_of(checker.check(conv, emotions=[None] * 5)[0]) == [("norm:empathy", 2)]
        low = [None, emotion("angry", 0.45), None, emotion("neutral", 0.9), None]
        assert checker.check(conv, emotions=low)[0] == []

    def test_customer_ends_angry(self, checker: ServiceNormChecker) -> None:
        conv = Conversation("chat", (
            utt(0, "agent", "您好"), utt(1, "customer", "我的货呢"), utt(2, "agent", "非常抱歉，让您久等了"),
            utt(3, "customer", "算了"), utt(4, "agent", "感谢您的支持，再见"),
        ))  # fmt: skip
        preds = [None, emotion("anxious", 0.9), None, emotion("angry", 0.75), None]
        findings, _ = checker.check(conv, emotions=preds)
        assert rules_of(findings) == [
            ("norm:empathy_shown", 2),
            ("norm:customer_ends_angry", 3),
            ("norm:empathy", 4),
        ]
        assert findings[1].severity is Severity.IMPORTANT
        with pytest.raises(ValueError, match="emotions has 2 entries for 5 utterances"):
            checker.check(conv, emotions=preds[:2])


class TestTiming:
    def test_phone_call_metrics_and_findings(self, checker: ServiceNormChecker) -> None:
        conv = Conversation("phone", (
            utt(0, "agent", "您好，很高兴为您服务", 35_000, 37_000),  # 35 s after connection: too slow
            utt(1, "customer", "我想查一下快递", 38_000, 40_000),
            utt(2, "agent", "请您稍等，我帮您查一下", 42_000, 44_000),  # replies after 2 s
            utt(3, "customer", "好的", 45_000, 46_000),
            utt(4, "agent", "已经到站点了，明天送达", 80_000, 83_000),  # 34 s later: slow + silence
            utt(5, "customer", "那明天几点能送到呢", 84_000, 88_000),
            utt(6, "agent", "上午送达，请问还有什么可以帮您", 86_000, 89_000),  # starts 2 s before the customer ends
        ))  # fmt: skip
        findings, metrics = checker.check(conv)
        assert metrics == {
            "first_response_ms": 35_000, "avg_response_ms": 12_000, "max_response_ms": 34_000, "long_silences": 1,
            "interruptions": 1, "agent_turns": 4, "customer_turns": 3, "polite_ratio": 0.75,
        }  # fmt: skip
        assert rules_of(findings) == [
            ("norm:first_response", 0), ("norm:silence", 4), ("norm:slow_reply", 4), ("norm:interruption", 6),
        ]  # fmt: skip
        assert [f.detail for f in findings] == [
            "首次响应 35.0 秒，超过 30 秒", "静默 34.0 秒", "回复用时 34.0 秒，超过 30 秒",
            "客服在客户第6句结束前 2.0 秒开始说话",
        ]  # fmt: skip
        assert {f.category for f in findings} == {"response_time", "silence", "interruption"}

    def test_chat_waits_from_first_unanswered_message(self, checker: ServiceNormChecker) -> None:
        conv = Conversation("chat", (
            utt(0, "customer", "在吗", 0, 0), utt(1, "customer", "有人吗", 50_000, 50_000),
            utt(2, "agent", "您好，请问有什么可以帮您", 70_000, 70_000),
            utt(3, "customer", "退款到了吗", 80_000, 80_000), utt(4, "agent", "已到账，祝您生活愉快", 90_000, 90_000),
        ))  # fmt: skip
        findings, metrics = checker.check(conv)
        assert (metrics["first_response_ms"], metrics["avg_response_ms"], metrics["max_response_ms"]) == (
            70_000, 40_000, 70_000,
        )  # fmt: skip
        assert rules_of(findings) == [("norm:first_response", 2), ("norm:slow_reply", 2)]

    def test_unknown_speakers_are_not_applicable(self, checker: ServiceNormChecker) -> None:
        conv = Conversation("phone", (
            utt(0, "unknown", "喂你好", 1_000, 2_000), utt(1, "unknown", "不知道", 3_000, 4_000),
            utt(2, "unknown", "我要投诉", 30_000, 31_000),
        ))  # fmt: skip
        findings, metrics = checker.check(conv)
        assert findings == [
            Finding(kind="service_norm", category="silence", severity=Severity.GENERAL, rule="norm:silence",
                    utterance_index=2, detail="静默 26.0 秒"),
            Finding(kind="service_norm", category="not_applicable", severity=Severity.NONE,
                    rule="norm:speaker_roles", detail="speaker roles unknown"),
        ]  # fmt: skip
        assert metrics == {
            "first_response_ms": None, "avg_response_ms": None, "max_response_ms": None, "long_silences": 1,
            "interruptions": None, "agent_turns": None, "customer_turns": None, "polite_ratio": None,
        }  # fmt: skip

    def test_empty_conversation(self, checker: ServiceNormChecker) -> None:
        findings, metrics = checker.check(Conversation("chat", ()))
        assert findings == []
        assert (metrics["agent_turns"], metrics["customer_turns"]) == (0, 0)
