"""Service-norm checks (服务规范): greeting, closing, empathy, bare refusals, politeness, response times.

Every phrase and threshold comes from lexicons/rules.yaml (see `pipelines.ruleset`). Findings have
kind="service_norm", rule="norm:<id>". Timing checks need start_ms/end_ms on every utterance, measured from the
start of the recording (phone: the moment the call connected). Speaker-scoped checks need known roles: when
every speaker is "unknown" (mono audio) they are skipped, their metrics are None, and a single
`not_applicable` finding says why.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from pipelines.ruleset import Norm, RuleSet, RuleSetError, load_rules
from pipelines.types import Conversation, EmotionPrediction, Finding, Utterance

__all__ = ["Metrics", "RuleSet", "RuleSetError", "ServiceNormChecker", "load_rules"]

Metrics = dict[str, float | int | None]
METRIC_KEYS: tuple[str, ...] = (
    "first_response_ms", "avg_response_ms", "max_response_ms", "long_silences", "interruptions",
    "agent_turns", "customer_turns", "polite_ratio",
)  # fmt: skip
_REFUSAL_END = r"(?=[\s，。,.!！?？~～、…;；:：]|$)"


@dataclass(frozen=True, slots=True)
class _Turns:
    """The conversation split once by role."""

    all: tuple[Utterance, ...]
    agent: tuple[Utterance, ...]
    customer: tuple[Utterance, ...]


class ServiceNormChecker:
    """Checks one conversation against the service norms; configured once, safe to share between threads."""

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        refusal = rules.norm("refusal")
        self._refusal_re = None
        if refusal is not None:
            words = "|".join(re.escape(p) for p in sorted(refusal.phrases, key=len, reverse=True))
            self._refusal_re = re.compile(rf"^\s*({words}){_REFUSAL_END}")

    def check(
        self, conversation: Conversation, *, emotions: Sequence[EmotionPrediction | None] | None = None
    ) -> tuple[list[Finding], Metrics]:
        """Findings (kind service_norm) and metrics; `emotions`, when given, is aligned with the utterances."""
        utts = conversation.utterances
        if emotions is not None and len(emotions) != len(utts):
            raise ValueError(f"emotions has {len(emotions)} entries for {len(utts)} utterances")
        preds: Sequence[EmotionPrediction | None] = emotions if emotions is not None else [None] * len(utts)
        turns = _Turns(
            all=utts,
            agent=tuple(u for u in utts if u.speaker == "agent"),
            customer=tuple(u for u in utts if u.speaker == "customer"),
        )
        metrics: Metrics = dict.fromkeys(METRIC_KEYS)
        findings: list[Finding] = []
        timed = bool(utts) and all(u.start_ms is not None and u.end_ms is not None for u in utts)
        if timed:
            metrics["long_silences"] = self._silences(conversation, findings)
        if utts and not turns.agent and not turns.customer:
            norm = self.rules.norm("speaker_roles")
            if norm is not None:
                findings.append(_finding(norm, None, "speaker roles unknown"))
            return findings, metrics

        metrics["agent_turns"] = len(turns.agent)
        metrics["customer_turns"] = len(turns.customer)
        self._greeting_closing(turns, findings)
        self._empathy(turns, preds, findings, with_emotions=emotions is not None)
        if emotions is not None:
            self._ends_angry(turns, preds, findings)
        self._refusals(turns, findings)
        metrics["polite_ratio"] = self._polite(turns, findings)
        if timed:
            self._response_times(conversation, turns, findings, metrics)
            metrics["interruptions"] = self._interruptions(turns, findings)
        findings.sort(key=lambda f: (f.utterance_index if f.utterance_index is not None else -1, f.rule))
        return findings, metrics

    # --- wording -------------------------------------------------------------------------------------

    def _greeting_closing(self, turns: _Turns, findings: list[Finding]) -> None:
        if not turns.agent:
            return  # nobody answered: the response-time checks report that, not a missing greeting
        greeting = self.rules.norm("greeting")
        if greeting is not None:
            window = turns.agent[: greeting.turns]
            if not any(_contains(u.text, greeting.phrases) for u in window):
                detail = f"客服前{greeting.turns}句未使用问候语"
                findings.append(_finding(greeting, window[0].index, detail))
        closing = self.rules.norm("closing")
        if closing is not None:
            window = turns.agent[-closing.turns :]
            if not any(_contains(u.text, closing.phrases) for u in window):
                detail = f"客服最后{closing.turns}句未使用结束语"
                findings.append(_finding(closing, window[-1].index, detail))

    def _negative_reason(self, utt: Utterance, pred: EmotionPrediction | None) -> str | None:
        neg = self.rules.negative_turn
        if pred is not None:
            if pred.label in neg.emotions and pred.confidence >= neg.min_confidence:
                return f"{pred.label} {pred.confidence:.2f}"
            return None
        cue = next((c for c in neg.cues if c in utt.text), None)
        return None if cue is None else f"「{cue}」"

    def _empathy(
        self,
        turns: _Turns,
        preds: Sequence[EmotionPrediction | None],
        findings: list[Finding],
        *,
        with_emotions: bool,
    ) -> None:
        empathy = self.rules.norm("empathy")
        if empathy is None:
            return
        shown = self.rules.norm("empathy_shown")
        pending: tuple[int, str] | None = None  # first negative customer turn not yet answered
        agent_positions = {u.index: k for k, u in enumerate(turns.agent)}
        for pos, utt in enumerate(turns.all):
            if utt.speaker == "customer" and pending is None:
                # The emotion model's verdict wins; cue words only stand in where it gave no prediction.
                reason = self._negative_reason(utt, preds[pos] if with_emotions else None)
                if reason is not None:
                    pending = (utt.index, reason)
            elif utt.speaker == "agent" and pending is not None:
                k = agent_positions[utt.index]
                window = turns.agent[k : k + empathy.turns]
                where = f"客户第{pending[0] + 1}句情绪负面（{pending[1]}）"
                if any(_contains(u.text, empathy.phrases) for u in window):
                    if shown is not None:
                        findings.append(_finding(shown, utt.index, f"{where}，客服已安抚"))
                else:
                    detail = f"{where}，其后{len(window)}句客服回复未安抚"
                    findings.append(_finding(empathy, utt.index, detail))
                pending = None

    def _ends_angry(
        self, turns: _Turns, preds: Sequence[EmotionPrediction | None], findings: list[Finding]
    ) -> None:
        norm = self.rules.norm("customer_ends_angry")
        if norm is None or not turns.customer:
            return
        position = {u.index: p for p, u in enumerate(turns.all)}
        for utt in turns.customer[-norm.turns :]:
            pred = preds[position[utt.index]]
            if pred is not None and pred.label in norm.emotions and pred.confidence >= norm.min_confidence:
                detail = f"客户结束时情绪为 {pred.label}（{pred.confidence:.2f}）"
                findings.append(_finding(norm, utt.index, detail))
                return

    def _refusals(self, turns: _Turns, findings: list[Finding]) -> None:
        norm = self.rules.norm("refusal")
        if norm is None or self._refusal_re is None:
            return
        for utt in turns.agent:
            m = self._refusal_re.match(utt.text)
            if m is not None:
                detail = "客服以生硬的否定开头"
                findings.append(
                    _finding(norm, utt.index, detail, term=m.group(1), start=m.start(1), end=m.end(1))
                )

    def _polite(self, turns: _Turns, findings: list[Finding]) -> float | None:
        norm = self.rules.norm("polite")
        if norm is None or not turns.agent:
            return None
        ratio = sum(_contains(u.text, norm.phrases) for u in turns.agent) / len(turns.agent)
        if norm.min_ratio is not None and ratio < norm.min_ratio:
            findings.append(_finding(norm, None, f"礼貌用语占比 {ratio:.0%}，低于 {norm.min_ratio:.0%}"))
        return round(ratio, 4)

    # --- timing --------------------------------------------------------------------------------------

    def _response_times(
        self, conversation: Conversation, turns: _Turns, findings: list[Finding], metrics: Metrics
    ) -> None:
        first = self._first_response(conversation, turns)
        metrics["first_response_ms"] = first
        norm = self.rules.norm("first_response")
        limit = norm.limit_for(conversation.channel) if norm is not None else None
        if norm is not None and first is not None and limit is not None and first > limit:
            findings.append(
                _finding(
                    norm, turns.agent[0].index, f"首次响应 {first / 1000:.1f} 秒，超过 {limit / 1000:.0f} 秒"
                )
            )
        replies = self._replies(conversation, turns)
        if replies:
            metrics["avg_response_ms"] = round(sum(ms for _, ms in replies) / len(replies))
            metrics["max_response_ms"] = max(ms for _, ms in replies)
        slow = self.rules.norm("slow_reply")
        slow_limit = slow.limit_for(conversation.channel) if slow is not None else None
        if slow is not None and slow_limit is not None:
            for index, ms in replies:
                if ms > slow_limit:
                    detail = f"回复用时 {ms / 1000:.1f} 秒，超过 {slow_limit / 1000:.0f} 秒"
                    findings.append(_finding(slow, index, detail))

    @staticmethod
    def _first_response(conversation: Conversation, turns: _Turns) -> int | None:
        if not turns.agent:
            return None
        first_agent = turns.agent[0]
        if conversation.channel == "phone":
            # Phone: from the moment the call connected (time 0 of the recording) to the agent's first words.
            return max(0, _ms(first_agent.start_ms))
        if not turns.customer:
            return None
        first_customer = turns.customer[0]
        if first_agent.index < first_customer.index:
            return 0  # the agent opened the chat before the customer wrote
        return max(0, _ms(first_agent.start_ms) - _ms(first_customer.end_ms))

    @staticmethod
    def _replies(conversation: Conversation, turns: _Turns) -> list[tuple[int, int]]:
        """(agent utterance index, ms the customer waited) for every agent turn that answers a customer."""
        replies: list[tuple[int, int]] = []
        waiting_since: int | None = None
        for utt in turns.all:
            if utt.speaker == "customer" and utt.end_ms is not None:
                # Chat: the customer waits from the first unanswered message; phone: from the end of speech.
                if conversation.channel == "phone" or waiting_since is None:
                    waiting_since = utt.end_ms
            elif utt.speaker == "agent" and waiting_since is not None and utt.start_ms is not None:
                replies.append((utt.index, max(0, utt.start_ms - waiting_since)))
                waiting_since = None
        return replies

    def _silences(self, conversation: Conversation, findings: list[Finding]) -> int:
        norm = self.rules.norm("silence")
        limit = norm.limit_for(conversation.channel) if norm is not None else None
        if norm is None or limit is None:
            return 0
        count = 0
        ordered = sorted(conversation.utterances, key=lambda u: (u.start_ms or 0, u.index))
        last_end = _ms(ordered[0].end_ms)
        for utt in ordered[1:]:
            gap = _ms(utt.start_ms) - last_end
            if gap > limit:
                count += 1
                findings.append(_finding(norm, utt.index, f"静默 {gap / 1000:.1f} 秒"))
            last_end = max(last_end, _ms(utt.end_ms))
        return count

    def _interruptions(self, turns: _Turns, findings: list[Finding]) -> int:
        norm = self.rules.norm("interruption")
        if norm is None:
            return 0
        count = 0
        for agent in turns.agent:
            for cust in turns.customer:
                overlap = _ms(cust.end_ms) - _ms(agent.start_ms)
                if _ms(cust.start_ms) < _ms(agent.start_ms) and overlap > norm.min_overlap_ms:
                    count += 1
                    detail = f"客服在客户第{cust.index + 1}句结束前 {overlap / 1000:.1f} 秒开始说话"
                    findings.append(_finding(norm, agent.index, detail))
                    break
        return count


def _ms(value: int | None) -> int:
    # Only called once every utterance is known to carry both timestamps.
    return value if value is not None else 0


def _contains(text: str, phrases: Sequence[str]) -> bool:
    return any(p in text for p in phrases)


def _finding(
    norm: Norm,
    index: int | None,
    detail: str,
    *,
    term: str | None = None,
    start: int | None = None,
    end: int | None = None,
) -> Finding:
    return Finding(
        kind="service_norm",
        category=norm.category,
        severity=norm.severity,
        rule=norm.rule,
        term=term,
        utterance_index=index,
        start=start,
        end=end,
        detail=detail,
    )
