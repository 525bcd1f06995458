// Alerts (预警): unacknowledged first; new ones arrive live (server-sent events) and can be acknowledged.
import { api } from "../api.js";
import { clear, h, label, sevBadge, time } from "../fmt.js";

const SCOPE = { conversation: "会话", agent_day: "坐席当日" };
let listener = null;
let ctxRef = null;

export async function show(ctx, { params }) {
  ctxRef = ctx;
  const canAck = ["supervisor", "admin"].includes(ctx.me.role);
  const filter = h("select", { id: "alert-filter" }, h("option", { value: "false" }, "未确认"), h("option", { value: "" }, "全部"), h("option", { value: "true" }, "已确认"));
  filter.value = params.get("acknowledged") ?? "false";
  const total = h("span", { class: "muted", id: "alerts-total" });
  const list = h("div", { id: "alerts-list" });
  clear(ctx.page, h("div", { class: "bar" }, h("h2", {}, "预警"), filter, total), list);

  async function ack(alert, button) {
    button.disabled = true;
    try {
      await api(`/v1/alerts/${alert.id}/ack`, { method: "POST" });
      ctx.toast("预警已确认");
      await ctx.refreshAlerts();
      await load();
    } catch (exc) { button.disabled = false; ctx.toast(exc.message, "error"); }
  }
  function row(a, fresh = false) {
    const button = canAck && !a.acknowledged ? h("button", { type: "button", class: "small ack-btn", dataset: { id: a.id } }, "确认") : null;
    if (button) button.addEventListener("click", () => ack(a, button));
    return h("tr", { class: `${a.acknowledged ? "acked" : "unacked"}${fresh ? " fresh" : ""}`, dataset: { id: a.id } },
      h("td", {}, sevBadge(a.severity)),
      h("td", {}, h("b", {}, a.title), h("div", { class: "muted small" }, a.summary)),
      h("td", {}, label(SCOPE, a.scope), " · ", a.agent_id),
      h("td", {}, a.conversation_id ? h("a", { href: `#/c/${a.conversation_id}` }, a.external_id || "查看会话") : a.day || "—"),
      h("td", { class: "nowrap" }, time(a.created_at)),
      h("td", {}, a.acknowledged ? `${a.acknowledged_by_name} ${time(a.acknowledged_at)}` : button || "未确认"));
  }
  let tbody = null;
  let count = 0;
  async function load() {
    const page = await api("/v1/alerts", { query: { acknowledged: filter.value, limit: 100 } });
    count = page.total;
    total.textContent = `共 ${count} 条`;
    tbody = h("tbody", {}, page.items.map((a) => row(a)));
    clear(list, page.items.length ? h("table", { class: "grid", id: "alerts-table" },
      h("thead", {}, h("tr", {}, ["级别", "预警", "范围 · 坐席", "会话/日期", "时间", "确认"].map((t) => h("th", {}, t)))), tbody)
      : h("p", { class: "empty" }, "暂无预警"));
  }
  filter.addEventListener("change", load);
  await load();
  // A live alert goes on top at once (it is unacknowledged, so it belongs in the default view).
  listener = async (alert) => {
    if (filter.value === "true") return;
    if (!tbody || !tbody.isConnected) {
      // The list was empty (no table drawn): draw it now, with the new alert marked as it would be on top.
      await load();
      tbody?.querySelector(`tr[data-id="${alert.id}"]`)?.classList.add("fresh");
      return;
    }
    tbody.prepend(row(alert, true));
    count += 1;
    total.textContent = `共 ${count} 条`;
  };
  ctx.listeners.add(listener);
}

export function leave() {
  if (listener) ctxRef?.listeners.delete(listener);
}
