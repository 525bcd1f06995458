// The supervisors' queue: flagged and not yet reviewed, most severe first, refreshed live.
import { api } from "../api.js";
import { clear, h, time } from "../fmt.js";
import { conversationTable } from "./list.js";

const QUERY = { flagged: "true", review_status: "unreviewed", limit: 50 };
const SORTS = { severity: "严重度高者在前", dissatisfaction: "不满意度高者在前" };
let sort = "severity";  // the queue's order: severity (default) or the conversation-level 不满意度
const REFRESH_MS = 10000;
let timer = null;
let onAlert = null;

/** The first conversation of the queue other than `exceptId` (the "next" button of a conversation). */
export async function nextInQueue(exceptId) {
  const page = await api("/v1/conversations", { query: { ...QUERY, limit: 2 } });
  return page.items.find((c) => c.id !== exceptId) || null;
}

export async function show(ctx) {
  const total = h("span", { class: "muted", id: "queue-total" });
  const updated = h("span", { class: "muted small", id: "queue-updated" });
  const body = h("div", { id: "queue-list" });
  const order = h("select", { id: "queue-sort", onchange: (e) => { sort = e.target.value; load(); } },
    Object.entries(SORTS).map(([v, t]) => h("option", { value: v, selected: v === sort }, t)));
  clear(ctx.page, h("div", { class: "bar" }, h("h2", {}, "待复核队列"), total, order, h("span", { class: "spacer" }), updated,
    h("button", { type: "button", class: "ghost", onclick: () => load() }, "刷新")), body);
  async function load() {
    const page = await api("/v1/conversations", { query: { ...QUERY, sort } });
    total.textContent = `共 ${page.total} 条待复核（${SORTS[sort]}）`;
    updated.textContent = `更新于 ${time(new Date().toISOString())}`;
    clear(body, page.items.length ? conversationTable(page.items, { from: "queue" }) : h("p", { class: "empty" }, "队列已清空，暂无待复核会话。"));
  }
  await load();
  timer = setInterval(() => load().catch(() => null), REFRESH_MS);
  onAlert = () => load().catch(() => null);  // a new alert usually means a new flagged conversation
  ctx.listeners.add(onAlert);
  show.ctx = ctx;
}

export function leave() {
  clearInterval(timer);
  if (onAlert) show.ctx?.listeners.delete(onAlert);
}
