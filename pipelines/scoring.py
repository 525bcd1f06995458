"""100-point QA score (质检评分) from the findings, configured by the `scoring` section of rules.yaml.

Each dimension starts at its points. A finding takes the first deduction line that matches it (until that
line's `max_times`), or else the first addition line. Overlapping findings in the same text (a 服务禁语 hit
that is also a bare refusal) are deducted once, under the heavier line. A dimension never drops below 0 nor rises above its
points; when it would, a `cap:<dimension>` item records the difference, so the breakdown always adds up:
100 + sum(item.points) == total. A fatal line (一票否决) forces the total to 0; its item carries the
remaining points so the breakdown still adds up.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from pipelines.ruleset import RuleSet, ScoreLine
from pipelines.types import ConversationEmotion, Finding, Score, ScoreItem, Severity, Utterance

_FULL_MARKS = 100.0


class Scorer:
    """Scores, grades and flags one conversation's findings; stateless after construction."""

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        self._dimension_points = {d.key: d.points for d in rules.scoring.dimensions}
        self._dimension_names = {d.key: d.name for d in rules.scoring.dimensions}

    def score(
        self,
        findings: Sequence[Finding],
        *,
        conversation_emotion: ConversationEmotion | None = None,
        utterances: Sequence[Utterance] = (),
    ) -> Score:
        """Score the findings; pass `utterances` so speaker-scoped lines (e.g. agent abuse) can apply."""
        speakers = {u.index: u.speaker for u in utterances}
        scoring = self.rules.scoring
        items: list[ScoreItem] = []
        fatal_items: list[ScoreItem] = []
        used: Counter[str] = Counter()
        shadowed = self._shadowed(findings, speakers)
        for position, finding in enumerate(findings):
            speaker = _speaker(finding, speakers)
            for fatal in scoring.fatal:
                if fatal.id not in used and fatal.match.matches(finding, speaker):
                    used[fatal.id] += 1
                    fatal_items.append(
                        ScoreItem(finding.rule, "fatal", 0.0, _reason(fatal, finding), fatal=True)
                    )
            if position in shadowed:
                continue
            line = _first(scoring.deductions, finding, speaker)
            sign = -1.0  # deduction lines store positive points
            if line is None:
                line, sign = _first(scoring.additions, finding, speaker), 1.0
            if line is None or used[line.id] >= line.max_times:
                continue
            used[line.id] += 1
            items.append(ScoreItem(finding.rule, line.dimension, sign * line.points, _reason(line, finding)))
        if conversation_emotion is not None:
            for traj in scoring.trajectory:
                if traj.trajectory == conversation_emotion.trajectory:
                    items.append(
                        ScoreItem(f"emotion:{traj.trajectory}", traj.dimension, traj.points, traj.reason)
                    )
        items.extend(self._caps(items))
        total = _FULL_MARKS + sum(item.points for item in items)
        if fatal_items:
            # The first fatal item takes away whatever was left, so the breakdown still adds up to 0.
            first = fatal_items[0]
            fatal_items[0] = ScoreItem(first.rule, first.dimension, -total, first.reason, fatal=True)
            return Score(total=0.0, items=tuple(items + fatal_items), fatal=True)
        return Score(total=round(total, 2), items=tuple(items), fatal=False)

    def _shadowed(self, findings: Sequence[Finding], speakers: Mapping[int, str]) -> set[int]:
        """Positions of findings whose text another finding already penalises more (or equally, earlier).

        The same words can be both a 服务禁语 hit and a bare-refusal norm finding ("不知道"); the agent
        loses points for them once, under the heavier line.
        """
        spans: list[tuple[int, int, int, int, float]] = []  # position, utterance, start, end, points
        for position, finding in enumerate(findings):
            if finding.utterance_index is None or finding.start is None or finding.end is None:
                continue
            line = _first(self.rules.scoring.deductions, finding, _speaker(finding, speakers))
            if line is not None:
                spans.append((position, finding.utterance_index, finding.start, finding.end, line.points))
        # Sweep by utterance and start, comparing each span only with the earlier ones still open at its start:
        # a text full of hits costs n log n, not n² (every pair that overlaps is still compared once).
        spans.sort(key=lambda span: (span[1], span[2]))
        shadowed: set[int] = set()
        open_spans: list[tuple[int, int, int, int, float]] = []
        for span in spans:
            pos, utt, start, end, points = span
            open_spans = [o for o in open_spans if o[1] == utt and o[3] > start]
            for other_pos, _, other_start, _, other_points in open_spans:
                if other_start >= end:  # only an empty span can start where the other does and miss it
                    continue
                if other_points > points or (other_points == points and other_pos < pos):
                    shadowed.add(pos)
                if points > other_points or (points == other_points and pos < other_pos):
                    shadowed.add(other_pos)
            open_spans.append(span)
        return shadowed

    def _caps(self, items: Sequence[ScoreItem]) -> list[ScoreItem]:
        """Items that keep every dimension within [0, its points]."""
        net: dict[str, float] = dict.fromkeys(self._dimension_points, 0.0)
        for item in items:
            net[item.dimension] = net.get(item.dimension, 0.0) + item.points
        caps = []
        for key, points in self._dimension_points.items():
            value = points + net[key]
            name = self._dimension_names[key]
            if value < 0:
                caps.append(ScoreItem(f"cap:{key}", key, -value, f"{name}最多扣 {points:g} 分"))
            elif value > points:
                caps.append(
                    ScoreItem(f"cap:{key}", key, points - value, f"{name}加分不超过满分 {points:g} 分")
                )
        return caps

    def severity(self, findings: Sequence[Finding]) -> Severity:
        """The most severe finding's severity (NONE when there is none)."""
        return max((f.severity for f in findings), default=Severity.NONE)

    def flagged(self, severity: Severity, score: Score) -> bool:
        """True when a supervisor must look: severity at or above the flag level, a fatal item, or a low score."""
        return (
            score.fatal
            or severity >= self.rules.flag_min_severity
            or score.total < self.rules.flag_score_below
        )


def _speaker(finding: Finding, speakers: Mapping[int, str]) -> str:
    if finding.utterance_index is None:
        return "unknown"
    return speakers.get(finding.utterance_index, "unknown")


def _first(lines: Sequence[ScoreLine], finding: Finding, speaker: str) -> ScoreLine | None:
    return next((line for line in lines if line.match.matches(finding, speaker)), None)


def _reason(line: ScoreLine, finding: Finding) -> str:
    where = f"第{finding.utterance_index + 1}句" if finding.utterance_index is not None else "整通会话"
    what = f"「{finding.term}」" if finding.term else (finding.detail or finding.category)
    return f"{line.reason}：{where} {what}"
