// A table of conversation summaries (queue and search share it).
import { CHANNEL, EMO, REVIEW, TRAJ, h, label, num, sevBadge, time } from "../fmt.js";

export function conversationTable(items, { from = "search" } = {}) {
  const head = h("tr", {}, ["严重度", "得分", "会话", "坐席", "渠道", "开始时间", "客户情绪", "情绪走势", "不满意度", "复核"].map((t) => h("th", {}, t)));
  const rows = items.map((c) => h("tr", { class: "conv-row", dataset: { id: c.id } },
    h("td", {}, sevBadge(c.severity), c.flagged ? h("span", { class: "flag", title: "已标记" }, " ⚑") : null),
    h("td", { class: c.score !== null && c.score < 60 ? "low" : "" }, num(c.score, 0)),
    h("td", {}, h("a", { href: `#/c/${c.id}?from=${from}` }, c.external_id)),
    h("td", {}, c.agent_id),
    h("td", {}, label(CHANNEL, c.channel)),
    h("td", { class: "nowrap" }, time(c.started_at)),
    h("td", {}, c.customer_emotion ? h("span", { class: `emo emo-${c.customer_emotion}` }, label(EMO, c.customer_emotion)) : "—"),
    h("td", {}, label(TRAJ, c.emotion_trajectory)),
    h("td", { class: c.dissatisfaction !== null && c.dissatisfaction >= 0.5 ? "low" : "", title: "客户不满意的概率" },
      c.dissatisfaction === null || c.dissatisfaction === undefined ? "—" : `${Math.round(c.dissatisfaction * 100)}%`),
    h("td", {}, h("span", { class: `review review-${c.review_status}` }, label(REVIEW, c.review_status))),
  ));
  return h("table", { class: "grid" }, h("thead", {}, head), h("tbody", {}, rows));
}
