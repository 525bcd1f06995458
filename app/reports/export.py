"""Downloads of the reports: CSV (UTF-8 with BOM, so Excel reads the Chinese) and XLSX, Chinese headers."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from openpyxl import Workbook  # type: ignore[import-untyped]

from app.reports.schemas import AgentReport, DailyReport, ResponseTimes, RulesReport

Cell = str | int | float | None

SEVERITY_ZH = {"none": "无", "general": "一般", "important": "重要", "major": "重大"}
CHANNEL_ZH = {"phone": "电话", "chat": "在线"}
KIND_ZH = {
    "sensitive_word": "敏感词",
    "service_norm": "服务规范",
    "emotion": "情绪",
    "abuse": "辱骂（模型）",
    "pii": "个人信息",
}
# Service-norm categories are English ids in the data; sensitive-word categories are Chinese already.
CATEGORY_ZH = {
    "greeting": "开场问候",
    "closing": "结束语",
    "empathy": "未安抚",
    "empathy_shown": "及时安抚",
    "refusal": "生硬拒绝",
    "polite": "礼貌用语",
    "customer_ends_angry": "客户愤怒结束",
    "response_time": "响应超时",
    "silence": "长时间静默",
    "interruption": "抢话打断",
    "not_applicable": "不适用",
}
# A cell a spreadsheet would run as a formula (agent ids and keywords come from clients): kept as text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class Table:
    """One sheet of a download (CSV: tables one after another, a blank line between)."""

    title: str
    headers: list[str]
    rows: list[list[Cell]]


def _safe(value: Cell) -> Cell:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _seconds(ms: float | int | None) -> float | None:
    return None if ms is None else round(ms / 1000, 1)


def _percent(rate: float | None) -> float | None:
    return None if rate is None else round(rate * 100, 2)


def _response_columns(channel: str) -> list[str]:
    zh = CHANNEL_ZH[channel]
    return [
        f"{zh}：有响应时间的会话数",
        f"{zh}：响应标准（秒）",
        f"{zh}：首次响应均值（秒）",
        f"{zh}：平均响应均值（秒）",
        f"{zh}：最长响应（秒）",
        f"{zh}：首次响应超标会话数",
        f"{zh}：回复超时次数",
    ]


def _response_cells(times: ResponseTimes) -> list[Cell]:
    return [
        times.conversations,
        _seconds(times.standard_ms),
        _seconds(times.first_avg_ms),
        _seconds(times.average_avg_ms),
        _seconds(times.longest_ms),
        times.first_over_standard,
        times.slow_replies,
    ]


def agent_tables(report: AgentReport) -> list[Table]:
    """The agent report as one sheet: one row per agent, one column per finding category."""
    categories = sorted({c for a in report.agents for c in a.findings_by_category})
    headers = [
        "坐席",
        "会话数",
        "平均分",
        "最低分",
        "标记会话数",
        "标记率（%）",
        *(f"问题数：{zh}" for zh in SEVERITY_ZH.values()),
        *(f"问题类别：{CATEGORY_ZH.get(c, c)}" for c in categories),
        *_response_columns("phone"),
        *_response_columns("chat"),
        "客户负面结束会话数",
        "客户负面结束占比（%）",
        "复核确认",
        "复核驳回",
        "申诉数",
        "申诉改判数",
    ]
    rows: list[list[Cell]] = [
        [
            a.agent_id,
            a.conversations,
            a.mean_score,
            a.lowest_score,
            a.flagged,
            _percent(a.flag_rate),
            *(a.findings_by_severity.get(s, 0) for s in SEVERITY_ZH),
            *(a.findings_by_category.get(c, 0) for c in categories),
            *_response_cells(a.phone),
            *_response_cells(a.chat),
            a.customers_ending_negative,
            _percent(a.negative_ending_rate),
            a.confirmed,
            a.dismissed,
            a.appeals_filed,
            a.appeals_overturned,
        ]
        for a in report.agents
    ]
    return [Table("坐席报表", headers, rows)]


def daily_tables(report: DailyReport) -> list[Table]:
    """The daily report: one row per day, then the rising keywords against the previous period."""
    headers = [
        "日期",
        "会话数",
        *(f"渠道：{zh}" for zh in CHANNEL_ZH.values()),
        "标记会话数",
        *(f"最高严重程度：{zh}" for zh in SEVERITY_ZH.values()),
        "平均分",
        "热门关键词（会话数）",
    ]
    rows: list[list[Cell]] = [
        [
            d.day.isoformat(),
            d.conversations,
            *(d.by_channel.get(ch, 0) for ch in CHANNEL_ZH),
            d.flagged,
            *(d.severity_mix.get(s, 0) for s in SEVERITY_ZH),
            d.mean_score,
            "、".join(f"{k.term}（{k.conversations}）" for k in d.top_keywords),
        ]
        for d in report.days
    ]
    rising: list[list[Cell]] = [
        [k.term, k.conversations, k.previous, k.change] for k in report.rising_keywords
    ]
    return [
        Table("日报", headers, rows),
        Table("上升关键词", ["关键词", "本期会话数", "上期会话数", "增加"], rising),
    ]


def rules_tables(report: RulesReport) -> list[Table]:
    """The rules report: one row per rule, then per sensitive-word category."""
    headers = [
        "类型",
        "名称",
        "种类",
        "命中次数",
        "涉及会话数",
        "已复核会话",
        "确认",
        "驳回",
        "准确率（%）",
        "申诉改判",
    ]
    rows: list[list[Cell]] = [
        [
            "规则" if r.group == "rule" else "敏感词类别",
            CATEGORY_ZH.get(r.name, r.name),
            KIND_ZH.get(r.kind, r.kind),
            r.hits,
            r.conversations,
            r.reviewed,
            r.confirmed,
            r.dismissed,
            _percent(r.precision),
            r.overturned,
        ]
        for r in report.rules
    ]
    return [Table("规则报表", headers, rows)]


def to_csv(tables: Sequence[Table]) -> bytes:
    """UTF-8 with a byte-order mark: Excel opens it with the Chinese intact."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    for n, table in enumerate(tables):
        if n:
            writer.writerow([])
            writer.writerow([table.title])
        writer.writerow(table.headers)
        writer.writerows([_safe(v) for v in row] for row in table.rows)
    return buffer.getvalue().encode("utf-8-sig")


def to_xlsx(tables: Sequence[Table]) -> bytes:
    """One sheet per table (write-only mode: rows stream out, nothing is kept per cell)."""
    book = Workbook(write_only=True)
    for table in tables:
        sheet: Any = book.create_sheet(title=table.title)
        sheet.append(table.headers)
        for row in table.rows:
            sheet.append([_safe(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
