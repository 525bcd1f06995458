// Chinese labels, times in the centre's time zone, and small DOM helpers shared by every page.

export const SEV = { none: "无", general: "一般", important: "重要", major: "重大" };
export const SEV_BY_NUMBER = ["无", "一般", "重要", "重大"];
export const EMO = {
  neutral: "中性", happy: "高兴", angry: "愤怒", sad: "悲伤", anxious: "焦虑", surprised: "惊讶",
};
export const TRAJ = { escalated: "恶化", calmed: "缓和", stable: "平稳", unknown: "未知" };
export const REVIEW = { unreviewed: "未复核", reviewed: "已确认", dismissed: "已驳回" };
export const STATUS = {
  received: "已接收", pending_transcription: "转写中", analysed: "已质检", failed: "质检失败",
};
export const CHANNEL = { phone: "电话", chat: "在线" };
export const SPEAKER = { agent: "客服", customer: "客户", unknown: "未知" };
export const ROLE = {
  supervisor: "质检主管", auditor: "质检员", admin: "管理员", agent: "坐席", ingest: "接入系统",
};
export const KIND = {
  sensitive_word: "敏感词", pii: "个人信息", service_norm: "服务规范", emotion: "情绪", abuse: "辱骂（模型）",
};
export const CATEGORY = {
  greeting: "开场问候", closing: "结束语", empathy: "未安抚", empathy_shown: "已安抚", refusal: "生硬拒绝",
  polite: "礼貌用语", customer_ends_angry: "客户愤怒结束", response_time: "响应时效", silence: "长时间静默",
  interruption: "抢话打断", not_applicable: "不适用",
};
export const DIMENSION = {
  service_norm: "服务规范", sensitive: "服务禁语/敏感词", response_time: "响应时效", emotion: "情绪", fatal: "一票否决",
};
const VARIANT = { exact: "原词", pinyin: "拼音", initials: "拼音首字母", homophone: "谐音", traditional: "繁体", fullwidth: "全角", regex: "规则匹配" };
/** A finding's detail for people: `variant=pinyin` → 匹配方式：拼音. */
export function detailText(detail) {
  if (!detail) return null;
  const m = detail.match(/^variant=(\w+)$/);
  return m ? `匹配方式：${VARIANT[m[1]] || m[1]}` : detail;
}
export const APPEAL = { open: "待裁决", upheld: "维持原判", overturned: "已撤销" };

export const label = (table, value) => (value === null || value === undefined ? "—" : table[value] ?? value);

let zone = "Asia/Shanghai";
export function setTimezone(tz) { zone = tz || zone; }
export function timezone() { return zone; }

const fullFmt = () => new Intl.DateTimeFormat("zh-CN", {
  timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
  hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
});
/** A server time (ISO with offset) as the centre's wall clock: 2026-11-29 10:00:00. */
export function time(iso) {
  if (!iso) return "—";
  const parts = Object.fromEntries(fullFmt().formatToParts(new Date(iso)).map((p) => [p.type, p.value]));
  const hour = parts.hour === "24" ? "00" : parts.hour;
  return `${parts.year}-${parts.month}-${parts.day} ${hour}:${parts.minute}:${parts.second}`;
}
/** Today's date in the centre (YYYY-MM-DD), `offsetDays` from today. */
export function localDay(offsetDays = 0) {
  const d = new Date(Date.now() + offsetDays * 86400000);
  const p = Object.fromEntries(new Intl.DateTimeFormat("zh-CN", {
    timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
  }).formatToParts(d).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day}`;
}
export const seconds = (ms) => (ms === null || ms === undefined ? "" : `${Math.floor(ms / 60000)}:${String(Math.floor(ms / 1000) % 60).padStart(2, "0")}`);
export const pct = (x) => (x === null || x === undefined ? "—" : `${(x * 100).toFixed(1)}%`);
export const num = (x, digits = 1) => (x === null || x === undefined ? "—" : Number(x).toFixed(digits));

/** Build an element: h("div", {class: "x", onclick: fn}, "text", child…). Text is never parsed as HTML. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
export const sevBadge = (sev) => h("span", { class: `sev sev-${sev}` }, label(SEV, sev));
export function clear(el, ...children) { el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false)); return el; }
