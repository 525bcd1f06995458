// Appeals (申诉): agents follow their own; supervisors uphold or overturn open ones.
import { api } from "../api.js";
import { APPEAL, CATEGORY, SEV_BY_NUMBER, clear, h, label, time } from "../fmt.js";

export async function show(ctx, { params }) {
  const canDecide = ["supervisor", "admin"].includes(ctx.me.role);
  const status = h("select", { id: "appeal-status" }, h("option", { value: "open" }, "待裁决"), h("option", { value: "" }, "全部"), h("option", { value: "upheld" }, "维持原判"), h("option", { value: "overturned" }, "已撤销"));
  status.value = params.get("status") ?? "open";
  const total = h("span", { class: "muted" });
  const list = h("div", { id: "appeals-list" });
  clear(ctx.page, h("div", { class: "bar" }, h("h2", {}, ctx.me.role === "agent" ? "我的申诉" : "申诉裁决"), status, total), list);

  async function decide(a, decision, note) {
    try {
      const r = await api(`/v1/appeals/${a.id}/decision`, { method: "POST", body: { decision, note: note || null } });
      ctx.toast(decision === "overturn" ? `已撤销该问题，会话重新计分：${r.conversation.score ?? "—"} 分` : "已维持原判");
      await load();
    } catch (exc) { ctx.toast(exc.code === "appeal_decided" ? "该申诉已被裁决" : exc.message, "error"); }
  }
  function card(a) {
    const f = a.finding;
    const note = h("textarea", { rows: 2, maxlength: 2000, placeholder: "裁决说明（可选）", class: "decision-note" });
    return h("section", { class: "card appeal", dataset: { id: a.id } },
      h("div", {}, h("b", {}, `坐席 ${a.agent_id}`), " · ", h("a", { href: `#/c/${a.conversation_id}` }, "查看会话"), " · ",
        h("span", { class: `appeal-${a.status}` }, label(APPEAL, a.status)), h("span", { class: "muted small" }, ` 提交：${a.created_by} ${time(a.created_at)}`)),
      f ? h("div", {}, "被申诉问题：", h("b", {}, `${label(CATEGORY, f.category)}${f.term ? `「${f.term}」` : ""}`), ` · ${SEV_BY_NUMBER[f.severity] ?? f.severity}`) : null,
      h("div", { class: "note" }, `理由：${a.reason}`),
      a.decided_at ? h("div", { class: "muted" }, `裁决：${a.decided_by} ${time(a.decided_at)}${a.decision_note ? ` · ${a.decision_note}` : ""}`) : null,
      canDecide && a.status === "open" ? h("div", { class: "actions" }, note,
        h("button", { type: "button", class: "overturn-btn", onclick: () => decide(a, "overturn", note.value.trim()) }, "撤销问题（申诉成立）"),
        h("button", { type: "button", class: "secondary uphold-btn", onclick: () => decide(a, "uphold", note.value.trim()) }, "维持原判")) : null);
  }
  async function load() {
    const page = await api("/v1/appeals", { query: { status: status.value, limit: 100 } });
    total.textContent = `共 ${page.total} 条`;
    clear(list, page.items.length ? page.items.map(card) : h("p", { class: "empty" }, "暂无申诉"));
  }
  status.addEventListener("change", load);
  await load();
}
