"""100-point scoring: deductions, caps, additions, fatal items, severity and flagging."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from pipelines.rules import RuleSet, ServiceNormChecker, load_rules
from pipelines.scoring import Scorer
from pipelines.types import (
    Conversation,
    ConversationEmotion,
    Finding,
    Score,
    ScoreItem,
    Severity,
    Utterance,
)

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO / "../shared/data"


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return load_rules(REPO / "lexicons/rules.yaml")


@pytest.fixture(scope="module")
def scorer(rules: RuleSet) -> Scorer:
    return Scorer(rules)


def norm(
    rule: str, index: int | None = 1, severity: Severity = Severity.GENERAL, detail: str = "d"
) -> Finding:
    return Finding(kind="service_norm", category=rule, severity=severity, rule=f"norm:{rule}",
                   utterance_index=index, detail=detail)  # fmt: skip


def word(category: str, severity: Severity, index: int, term: str) -> Finding:
    return Finding(kind="sensitive_word", category=category, severity=severity, rule=f"lexicon:{category}",
                   term=term, utterance_index=index, start=0, end=len(term))  # fmt: skip


def emotion_summary(trajectory: str) -> ConversationEmotion:
    return ConversationEmotion(None, None, None, None, None, None, trajectory)  # type: ignore[arg-type]


CALL = (
    Utterance(0, "agent", "您好"),
    Utterance(1, "customer", "你们这帮傻逼"),
    Utterance(2, "agent", "你才傻逼"),
)


def adds_up(score: Score) -> bool:
    return abs(100 + sum(i.points for i in score.items) - score.total) < 1e-9


class TestDeductions:
    def test_clean_conversation(self, scorer: Scorer) -> None:
        score = scorer.score([])
        assert score == Score(total=100.0, items=(), fatal=False)
        assert scorer.severity([]) is Severity.NONE
        assert not scorer.flagged(Severity.NONE, score)

    def test_norm_findings_explained(self, scorer: Scorer) -> None:
        findings = [
            norm("greeting", 1, detail="客服前2句未使用问候语"),
            norm("closing", 9, detail="客服最后2句未使用结束语"),
        ]
        score = scorer.score(findings)
        assert score == Score(total=90.0, items=(
            ScoreItem("norm:greeting", "service_norm", -5.0, "未使用开场问候语：第2句 客服前2句未使用问候语"),
            ScoreItem("norm:closing", "service_norm", -5.0, "未使用结束语：第10句 客服最后2句未使用结束语"),
        ))  # fmt: skip

    def test_max_times_per_line(self, scorer: Scorer) -> None:
        score = scorer.score([norm("refusal", i) for i in range(5)])
        assert [i.points for i in score.items] == [-3.0, -3.0, -3.0]
        assert score.total == 91.0

    def test_dimension_cap(self, scorer: Scorer) -> None:
        findings = [norm("first_response", 0)] + [norm("slow_reply", i) for i in range(1, 4)]
        findings += [norm("silence", i) for i in range(4, 7)]
        score = scorer.score(findings)
        # 5 + 3*3 + 3*2 = 20 points of deductions, but 响应时效 is worth only 15.
        assert score.items[-1] == ScoreItem("cap:response_time", "response_time", 5.0, "响应时效最多扣 15 分")
        assert score.total == 85.0
        assert adds_up(score)

    def test_forbidden_words_by_severity(self, scorer: Scorer) -> None:
        findings = [
            word("服务禁语", Severity.GENERAL, 2, "不知道"),
            word("服务禁语", Severity.IMPORTANT, 4, "我不管"),
        ]
        score = scorer.score(findings)
        assert [(i.dimension, i.points, i.reason) for i in score.items] == [
            ("sensitive", -5.0, "服务禁语（一般）：第3句 「不知道」"),
            ("sensitive", -15.0, "服务禁语（重要）：第5句 「我不管」"),
        ]  # fmt: skip
        assert score.total == 80.0
        assert scorer.severity(findings) is Severity.IMPORTANT
        assert scorer.flagged(Severity.IMPORTANT, score)

    def test_unmatched_findings_do_not_score(self, scorer: Scorer) -> None:
        pii = Finding(
            kind="pii", category="mobile", severity=Severity.NONE, rule="pii:mobile", utterance_index=0
        )
        na = norm("speaker_roles", None, Severity.NONE)
        assert scorer.score([pii, na]) == Score(100.0, ())


class TestFatal:
    def test_agent_abuse_is_fatal(self, scorer: Scorer) -> None:
        findings = [norm("greeting", 0), word("辱骂", Severity.MAJOR, 2, "傻逼")]
        score = scorer.score(findings, utterances=CALL)
        assert score.fatal
        assert score.total == 0.0
        assert score.items[0] == ScoreItem("norm:greeting", "service_norm", -5.0, "未使用开场问候语：第1句 d")
        # The finding is also a normal deduction; both fatal lines fire and the first one carries the
        # remaining 85 points, so the breakdown adds up to 0.
        assert score.items[1:] == (
            ScoreItem("lexicon:辱骂", "sensitive", -10.0, "客服说出敏感词：第3句 「傻逼」"),
            ScoreItem("lexicon:辱骂", "fatal", -85.0, "客服说出重大敏感词或服务禁语（一票否决）：第3句 「傻逼」", fatal=True),
            ScoreItem("lexicon:辱骂", "fatal", 0.0, "客服辱骂客户（一票否决）：第3句 「傻逼」", fatal=True),
        )  # fmt: skip
        assert adds_up(score)
        assert scorer.flagged(scorer.severity(findings), score)

    def test_customer_abuse_is_not_the_agents_fault(self, scorer: Scorer) -> None:
        findings = [word("辱骂", Severity.IMPORTANT, 1, "傻逼")]
        score = scorer.score(findings, utterances=CALL)
        assert score == Score(100.0, ())
        # …but the conversation is still flagged by severity (重要).
        assert scorer.flagged(scorer.severity(findings), score)

    def test_speaker_unknown_deducts_but_never_fatal(self, scorer: Scorer) -> None:
        score = scorer.score([word("辱骂", Severity.MAJOR, 2, "傻逼")])  # no utterances: speaker unknown
        assert not score.fatal
        assert score.items == (
            ScoreItem("lexicon:辱骂", "sensitive", -10.0, "客服说出敏感词：第3句 「傻逼」"),
        )

    def test_escalation_scored_on_emotion(self, scorer: Scorer) -> None:
        score = scorer.score([word("投诉升级", Severity.MAJOR, 1, "12315")], utterances=CALL)
        assert score.items == (
            ScoreItem("lexicon:投诉升级", "emotion", -5.0, "客户扬言投诉升级：第2句 「12315」"),
        )
        assert not score.fatal


class TestEmotion:
    def test_ends_angry_with_empathy_and_trajectory(self, scorer: Scorer) -> None:
        findings = [
            norm("empathy_shown", 2, Severity.NONE),
            norm("customer_ends_angry", 5, Severity.IMPORTANT),
        ]
        score = scorer.score(findings, conversation_emotion=emotion_summary("escalated"))
        assert [(i.rule, i.points) for i in score.items] == [
            ("norm:empathy_shown", 3.0), ("norm:customer_ends_angry", -10.0), ("emotion:escalated", -5.0),
        ]  # fmt: skip
        assert score.total == 88.0

    def test_additions_never_exceed_full_marks(self, scorer: Scorer) -> None:
        score = scorer.score(
            [norm("empathy_shown", 2, Severity.NONE)], conversation_emotion=emotion_summary("calmed")
        )
        assert [(i.rule, i.points) for i in score.items] == [
            ("norm:empathy_shown", 3.0), ("emotion:calmed", 3.0), ("cap:emotion", -6.0),
        ]  # fmt: skip
        assert score.total == 100.0


class TestFlagging:
    @pytest.mark.parametrize(
        ("severity", "total", "expected"),
        [
            (Severity.NONE, 100.0, False), (Severity.GENERAL, 60.0, False), (Severity.GENERAL, 59.5, True),
            (Severity.IMPORTANT, 100.0, True), (Severity.MAJOR, 95.0, True),
        ],
    )  # fmt: skip
    def test_flagged(self, scorer: Scorer, severity: Severity, total: float, expected: bool) -> None:
        assert scorer.flagged(severity, Score(total, ())) is expected

    def test_severity_is_max(self, scorer: Scorer) -> None:
        findings = [norm("greeting"), word("投诉升级", Severity.MAJOR, 1, "消协"), norm("refusal")]
        assert scorer.severity(findings) is Severity.MAJOR


class TestRealChats:
    def test_scores_of_jddc_sessions(self, rules: RuleSet, scorer: Scorer) -> None:
        checker = ServiceNormChecker(rules)
        lines = (
            (SHARED_DATA / "dialogues/jddc_sample_sessions.jsonl").read_text(encoding="utf-8").splitlines()
        )
        totals: dict[float, int] = {}
        for line in lines:
            turns = json.loads(line)["turns"]
            conv = Conversation(
                "chat", tuple(Utterance(i, t["role"], t["text"]) for i, t in enumerate(turns))
            )
            score = scorer.score(checker.check(conv)[0], utterances=conv.utterances)
            assert adds_up(score)
            totals[score.total] = totals.get(score.total, 0) + 1
        assert sum(totals.values()) == 994
        assert totals[100.0] == 653
        assert min(totals) == 75.0


class TestOverlap:
    def test_same_words_deducted_once_under_heavier_line(self, scorer: Scorer) -> None:
        forbidden = word("服务禁语", Severity.GENERAL, 2, "不知道")  # -5, span 0..3
        refusal = Finding(kind="service_norm", category="refusal", severity=Severity.GENERAL, rule="norm:refusal",
                          term="不知道", utterance_index=2, start=0, end=3, detail="客服以生硬的否定开头")  # fmt: skip
        elsewhere = Finding(kind="service_norm", category="refusal", severity=Severity.GENERAL, rule="norm:refusal",
                            term="不", utterance_index=4, start=0, end=1, detail="客服以生硬的否定开头")  # fmt: skip
        score = scorer.score([refusal, forbidden, elsewhere], utterances=CALL)
        assert [(i.rule, i.points) for i in score.items] == [
            ("lexicon:服务禁语", -5.0),
            ("norm:refusal", -3.0),
        ]
        assert score.total == 92.0

    def test_shadowing_sweep_matches_the_pairwise_rule(self, scorer: Scorer) -> None:
        # The sweep must shadow exactly the findings that comparing every pair shadowed.
        rng = random.Random(5)
        kinds = [("服务禁语", Severity.GENERAL), ("辱骂", Severity.IMPORTANT), ("服务禁语", Severity.MAJOR)]
        speakers = {0: "agent", 1: "customer", 2: "agent", 3: "agent"}
        shadowed_any = 0
        for _ in range(40):
            findings = []
            spans: list[tuple[int, int, int, int, float]] = []
            for pos in range(rng.randint(0, 30)):
                (category, severity), utt = rng.choice(kinds), rng.randint(1, 3)
                start = rng.randint(0, 20)
                end = start + rng.randint(0, 4)
                finding = Finding(kind="sensitive_word", category=category, severity=severity,
                                  rule=f"lexicon:{category}", term="x", utterance_index=utt, start=start, end=end)  # fmt: skip
                findings.append(finding)
                lines = scorer.rules.scoring.deductions
                line = next((ln for ln in lines if ln.match.matches(finding, speakers[utt])), None)
                if line is not None:
                    spans.append((pos, utt, start, end, line.points))
            expected = {
                pos
                for pos, utt, start, end, points in spans
                for o_pos, o_utt, o_start, o_end, o_points in spans
                if o_utt == utt and o_start < end and start < o_end and o_pos != pos
                and (o_points > points or (o_points == points and o_pos < pos))
            }  # fmt: skip
            assert scorer._shadowed(findings, speakers) == expected
            shadowed_any += len(expected)
        assert shadowed_any == 175  # the random cases do exercise shadowing
