// The agent report and the daily report (GET /v1/reports/agents|daily), with charts and CSV/XLSX downloads.
import { api } from "../api.js";
import { SEV, clear, h, localDay, num, pct } from "../fmt.js";
import { SEVERITY_COLORS, chart, disposeAll } from "../charts.js";

const SEVS = ["major", "important", "general"];
const nextDay = (d) => new Date(Date.parse(`${d}T00:00:00Z`) + 86400000).toISOString().slice(0, 10);
const ms = (x) => (x === null || x === undefined ? "—" : `${(x / 1000).toFixed(1)} 秒`);

function periodForm(params, onSubmit, path) {
  const since = h("input", { type: "date", name: "since", value: params.get("since") || localDay(-6) });
  const until = h("input", { type: "date", name: "until", value: params.get("until") || localDay(0) });
  const links = h("span", { class: "downloads" });
  const query = () => ({ since: `${since.value}T00:00:00`, until: `${nextDay(until.value)}T00:00:00` });
  const refreshLinks = () => {
    const q = new URLSearchParams(query());
    clear(links, h("a", { href: `${path}?${q}&format=csv`, download: "" }, "下载 CSV"), " ", h("a", { href: `${path}?${q}&format=xlsx`, download: "" }, "下载 Excel"));
  };
  const form = h("form", { class: "period" }, h("label", {}, "从 ", since), h("label", {}, " 到 ", until), h("button", { type: "submit" }, "查询"), links);
  form.addEventListener("submit", (e) => { e.preventDefault(); refreshLinks(); onSubmit(query()); });
  refreshLinks();
  return { form, query };
}

export const agents = {
  async show(ctx, { params }) {
    const out = h("div", { id: "report-body" });
    const { form, query } = periodForm(params, (q) => load(q), "/v1/reports/agents");
    clear(ctx.page, h("div", { class: "bar" }, h("h2", {}, "坐席报表")), form, out);
    async function load(q) {
      disposeAll();
      const r = await api("/v1/reports/agents", { query: q });
      const rows = r.agents;
      if (!rows.length) { clear(out, h("p", { class: "empty" }, "该时段没有会话")); return; }
      const names = rows.map((a) => a.agent_id);
      const scoreChart = chart({
        title: { text: "平均得分与标记率", left: "center", textStyle: { fontSize: 14 } },
        tooltip: { trigger: "axis" }, legend: { bottom: 0 },
        grid: { left: 50, right: 50, top: 40, bottom: 60 },
        xAxis: { type: "category", data: names, axisLabel: { rotate: names.length > 8 ? 30 : 0 } },
        yAxis: [{ type: "value", name: "得分", min: 0, max: 100 }, { type: "value", name: "标记率", axisLabel: { formatter: (v) => `${Math.round(v * 100)}%` } }],
        series: [
          { name: "平均得分", type: "bar", data: rows.map((a) => a.mean_score), itemStyle: { color: "#3b6ea5" } },
          { name: "最低得分", type: "scatter", data: rows.map((a) => a.lowest_score), itemStyle: { color: "#b00020" } },
          { name: "标记率", type: "line", yAxisIndex: 1, data: rows.map((a) => a.flag_rate), itemStyle: { color: "#e8590c" } },
        ],
      }, { id: "chart-agents-score" });
      const sevChart = chart({
        title: { text: "问题严重度分布", left: "center", textStyle: { fontSize: 14 } },
        tooltip: { trigger: "axis" }, legend: { bottom: 0 },
        grid: { left: 50, right: 20, top: 40, bottom: 60 },
        xAxis: { type: "category", data: names, axisLabel: { rotate: names.length > 8 ? 30 : 0 } },
        yAxis: { type: "value", name: "问题数" },
        series: SEVS.map((s) => ({ name: SEV[s], type: "bar", stack: "sev", data: rows.map((a) => a.findings_by_severity[s] || 0), itemStyle: { color: SEVERITY_COLORS[s] } })),
      }, { id: "chart-agents-severity" });
      const head = ["坐席", "会话", "平均分", "最低分", "标记", "标记率", "在线首响", "电话首响", "最长响应", "负面结束", "确认", "驳回", "申诉", "撤销"];
      const table = h("table", { class: "grid", id: "agents-table" }, h("thead", {}, h("tr", {}, head.map((t) => h("th", {}, t)))), h("tbody", {}, rows.map((a) => h("tr", {},
        h("td", {}, h("a", { href: `#/search?agent_id=${encodeURIComponent(a.agent_id)}` }, a.agent_id)), h("td", {}, a.conversations), h("td", {}, num(a.mean_score)), h("td", {}, num(a.lowest_score, 0)),
        h("td", {}, a.flagged), h("td", {}, pct(a.flag_rate)), h("td", {}, ms(a.chat.first_avg_ms)), h("td", {}, ms(a.phone.first_avg_ms)),
        h("td", {}, ms(Math.max(a.chat.longest_ms || 0, a.phone.longest_ms || 0) || null)), h("td", {}, pct(a.negative_ending_rate)),
        h("td", {}, a.confirmed), h("td", {}, a.dismissed), h("td", {}, a.appeals_filed), h("td", {}, a.appeals_overturned)))));
      clear(out, h("div", { class: "charts" }, scoreChart, sevChart), table);
    }
    await load(query());
  },
  leave: disposeAll,
};

export const daily = {
  async show(ctx, { params }) {
    const out = h("div", { id: "report-body" });
    const { form, query } = periodForm(params, (q) => load(q), "/v1/reports/daily");
    clear(ctx.page, h("div", { class: "bar" }, h("h2", {}, "日报")), form, out);
    async function load(q) {
      disposeAll();
      const r = await api("/v1/reports/daily", { query: q });
      const days = r.days.map((d) => d.day.slice(5));
      const trend = chart({
        title: { text: "每日会话量、标记量与平均分", left: "center", textStyle: { fontSize: 14 } },
        tooltip: { trigger: "axis" }, legend: { bottom: 0 },
        grid: { left: 50, right: 50, top: 40, bottom: 50 },
        xAxis: { type: "category", data: days },
        yAxis: [{ type: "value", name: "会话" }, { type: "value", name: "平均分", min: 0, max: 100 }],
        series: [
          { name: "在线", type: "line", data: r.days.map((d) => d.by_channel.chat || 0), itemStyle: { color: "#3b6ea5" } },
          { name: "电话", type: "line", data: r.days.map((d) => d.by_channel.phone || 0), itemStyle: { color: "#2f9e44" } },
          { name: "已标记", type: "line", data: r.days.map((d) => d.flagged), itemStyle: { color: "#b00020" } },
          { name: "平均分", type: "line", yAxisIndex: 1, data: r.days.map((d) => d.mean_score), lineStyle: { type: "dashed" }, itemStyle: { color: "#868e96" } },
        ],
      }, { id: "chart-daily-trend" });
      const mix = chart({
        title: { text: "严重度构成（按会话最高严重度）", left: "center", textStyle: { fontSize: 14 } },
        tooltip: { trigger: "axis" }, legend: { bottom: 0 },
        grid: { left: 50, right: 20, top: 40, bottom: 50 },
        xAxis: { type: "category", data: days }, yAxis: { type: "value" },
        series: SEVS.map((s) => ({ name: SEV[s], type: "bar", stack: "mix", data: r.days.map((d) => d.severity_mix[s] || 0), itemStyle: { color: SEVERITY_COLORS[s] } })),
      }, { id: "chart-daily-severity" });
      const totals = {};
      for (const d of r.days) for (const k of d.top_keywords) totals[k.term] = (totals[k.term] || 0) + k.conversations;
      const top = Object.entries(totals).sort((a, b) => b[1] - a[1]).slice(0, 12).reverse();
      const words = chart({
        title: { text: "热门关键词", left: "center", textStyle: { fontSize: 14 } },
        tooltip: {}, grid: { left: 80, right: 20, top: 40, bottom: 20 },
        xAxis: { type: "value" }, yAxis: { type: "category", data: top.map((t) => t[0]) },
        series: [{ name: "会话数", type: "bar", data: top.map((t) => t[1]), itemStyle: { color: "#5c7cfa" } }],
      }, { id: "chart-daily-keywords" });
      const rising = h("section", { class: "card" }, h("h3", {}, "上升关键词（对比上一同长时段）"),
        r.rising_keywords.length ? h("table", { class: "grid compact", id: "rising-table" }, h("thead", {}, h("tr", {}, ["关键词", "本期", "上期", "变化"].map((t) => h("th", {}, t)))),
          h("tbody", {}, r.rising_keywords.slice(0, 15).map((k) => h("tr", {}, h("td", {}, h("a", { href: `#/search?keyword=${encodeURIComponent(k.term)}` }, k.term)), h("td", {}, k.conversations), h("td", {}, k.previous), h("td", { class: "up" }, `+${k.change}`)))))
          : h("p", { class: "muted" }, "无"));
      const table = h("table", { class: "grid", id: "daily-table" }, h("thead", {}, h("tr", {}, ["日期", "会话", "在线", "电话", "已标记", "重大", "重要", "一般", "平均分"].map((t) => h("th", {}, t)))),
        h("tbody", {}, r.days.map((d) => h("tr", {}, h("td", {}, d.day), h("td", {}, d.conversations), h("td", {}, d.by_channel.chat || 0), h("td", {}, d.by_channel.phone || 0), h("td", {}, d.flagged),
          h("td", {}, d.severity_mix.major || 0), h("td", {}, d.severity_mix.important || 0), h("td", {}, d.severity_mix.general || 0), h("td", {}, num(d.mean_score))))));
      clear(out, h("div", { class: "charts" }, trend, mix), h("div", { class: "charts" }, words, rising), table);
    }
    await load(query());
  },
  leave: disposeAll,
};
