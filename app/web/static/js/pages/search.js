// Search with every filter of GET /v1/conversations; the filters live in the URL, so a search can be shared.
import { api } from "../api.js";
import { CATEGORY, CHANNEL, EMO, KIND, REVIEW, SEV, SPEAKER, STATUS, TRAJ, clear, h } from "../fmt.js";
import { conversationTable } from "./list.js";

const options = (table, first) => [h("option", { value: "" }, first), ...Object.entries(table).map(([v, t]) => h("option", { value: v }, t))];
const FIELDS = [
  ["q", "全文", () => h("input", { name: "q", placeholder: "对话文本包含…", maxlength: 100 })],
  ["keyword", "关键词", () => h("input", { name: "keyword", placeholder: "如 退款", maxlength: 100 })],
  ["agent_id", "坐席", () => h("input", { name: "agent_id", placeholder: "坐席 ID", maxlength: 100 })],
  ["channel", "渠道", () => h("select", { name: "channel" }, options(CHANNEL, "全部"))],
  ["since", "开始日期", () => h("input", { name: "since", type: "date" })],
  ["until", "结束日期", () => h("input", { name: "until", type: "date" })],
  ["flagged", "标记", () => h("select", { name: "flagged" }, options({ true: "已标记", false: "未标记" }, "全部"))],
  ["review_status", "复核", () => h("select", { name: "review_status" }, options(REVIEW, "全部"))],
  ["severity_min", "严重度≥", () => h("select", { name: "severity_min" }, options({ general: SEV.general, important: SEV.important, major: SEV.major }, "全部"))],
  ["kind", "问题类型", () => h("select", { name: "kind" }, options(KIND, "全部"))],
  ["category", "问题类别", () => h("input", { name: "category", list: "categories", placeholder: "如 服务禁语", maxlength: 64 })],
  ["term", "命中词", () => h("input", { name: "term", placeholder: "如 不知道", maxlength: 200 })],
  ["emotion", "情绪", () => h("select", { name: "emotion" }, options(EMO, "全部"))],
  ["speaker", "情绪说话人", () => h("select", { name: "speaker" }, options(SPEAKER, "任一方"))],
  ["min_confidence", "情绪置信度≥", () => h("input", { name: "min_confidence", type: "number", min: 0, max: 1, step: 0.05 })],
  ["trajectory", "情绪走势", () => h("select", { name: "trajectory" }, options(TRAJ, "全部"))],
  ["score_min", "得分≥", () => h("input", { name: "score_min", type: "number", min: 0, max: 100 })],
  ["score_max", "得分≤", () => h("input", { name: "score_max", type: "number", min: 0, max: 100 })],
  ["status", "状态", () => h("select", { name: "status" }, options(STATUS, "全部"))],
];
const CATEGORY_HINTS = ["服务禁语", "投诉升级", "辱骂", "辱骂(模型)", ...Object.keys(CATEGORY)];

function toQuery(form) {
  const q = {};
  for (const [name] of FIELDS) {
    const v = form.elements[name].value.trim();
    if (!v) continue;
    // Dates without an offset are read by the API in the centre's time zone; `until` is exclusive.
    if (name === "since") q.since = `${v}T00:00:00`;
    else if (name === "until") q.until = new Date(Date.parse(`${v}T00:00:00Z`) + 86400000).toISOString().slice(0, 10) + "T00:00:00";
    else q[name] = v;
  }
  return q;
}

export async function show(ctx, { params }) {
  const form = h("form", { class: "filters", id: "search-form" },
    FIELDS.map(([name, text, make]) => h("label", {}, h("span", {}, text), make())),
    h("datalist", { id: "categories" }, CATEGORY_HINTS.map((c) => h("option", { value: c }))),
    h("div", { class: "actions" }, h("button", { type: "submit", id: "search-submit" }, "查询"), h("button", { type: "reset", class: "ghost" }, "清空")));
  for (const [name] of FIELDS) if (params.get(name)) form.elements[name].value = params.get(name);
  const total = h("p", { class: "muted", id: "search-total" });
  const results = h("div", { id: "search-results" });
  const more = h("button", { type: "button", class: "ghost", hidden: true }, "加载更多");
  clear(ctx.page, h("h2", {}, ctx.me.role === "agent" ? "我的会话" : "会话检索"), form, total, results, more);
  let cursor = null;
  let items = [];
  async function run(append) {
    const query = { ...toQuery(form), limit: 50 };
    if (append && cursor) query.cursor = cursor;
    try {
      const page = await api("/v1/conversations", { query });
      cursor = page.next_cursor;
      items = append ? items.concat(page.items) : page.items;
      total.textContent = `共 ${page.total} 条`;
      more.hidden = !cursor;
      clear(results, items.length ? conversationTable(items) : h("p", { class: "empty" }, "没有符合条件的会话"));
    } catch (exc) {
      if (exc.status === 422) total.textContent = `条件有误：${(exc.details || []).map((d) => d.msg).join("；") || exc.message}`;
      else throw exc;
    }
  }
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const kept = Object.entries(toQuery(form)).map(([k]) => [k, form.elements[k].value.trim()]);
    history.replaceState(null, "", `#/search?${new URLSearchParams(kept)}`);
    run(false);
  });
  more.addEventListener("click", () => run(true));
  await run(false);
}
