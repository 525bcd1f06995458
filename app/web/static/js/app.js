// The console shell: who is signed in, the navigation for their role, the hash router, live alerts.
import { api, setCsrf, toLogin } from "./api.js";
import { ROLE, h, clear, setTimezone } from "./fmt.js";
import * as alerts from "./pages/alerts.js";
import * as appeals from "./pages/appeals.js";
import * as conversation from "./pages/conversation.js";
import * as queue from "./pages/queue.js";
import * as reports from "./pages/reports.js";
import * as rules from "./pages/rules.js";
import * as search from "./pages/search.js";
import * as versions from "./pages/versions.js";

const STAFF = ["supervisor", "auditor", "admin"];
// Route → [menu label, page module, roles that see it in the menu]. The API enforces access regardless.
const ROUTES = {
  queue: ["待复核队列", queue, ["supervisor", "auditor", "admin"]],
  search: ["会话检索", search, [...STAFF, "agent"]],
  agents: ["坐席报表", reports.agents, STAFF],
  daily: ["日报", reports.daily, STAFF],
  alerts: ["预警", alerts, STAFF],
  appeals: ["申诉", appeals, [...STAFF, "agent"]],
  rules: ["规则试运行", rules, STAFF],
  versions: ["规则版本", versions, ["admin"]],
  c: [null, conversation, []],
};

const ctx = { me: null, page: document.getElementById("page"), toast, refreshAlerts: () => {}, listeners: new Set() };

function toast(text, kind = "info") {
  const el = document.getElementById("toast");
  el.textContent = text;
  el.className = `toast toast-${kind}`;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, 4000);
}

function parseHash() {
  const [path, qs] = (location.hash.replace(/^#\/?/, "") || "").split("?");
  const [name, ...rest] = path.split("/");
  return { name, args: rest, params: new URLSearchParams(qs || "") };
}

let current = null;
async function route() {
  const { name, args, params } = parseHash();
  const fallback = ctx.me.role === "agent" ? "search" : "queue";
  const entry = ROUTES[name] || ROUTES[fallback];
  if (!ROUTES[name]) { location.replace(`#/${fallback}`); return; }
  if (current?.leave) current.leave();
  current = entry[1];
  document.querySelectorAll("#nav a").forEach((a) => a.classList.toggle("active", a.dataset.route === name));
  clear(ctx.page, h("p", { class: "muted" }, "加载中…"));
  try {
    await entry[1].show(ctx, { args, params });
  } catch (exc) {
    if (exc?.status === 401) return;
    const text = exc?.status === 403 ? "当前角色无权查看此页面" : exc?.status === 404 ? "未找到（或无权查看）" : `出错了：${exc?.message || exc}`;
    clear(ctx.page, h("p", { class: "error" }, text));
  }
}

function startAlertFeed() {
  const badge = document.getElementById("alert-badge");
  const count = document.getElementById("alert-count");
  if (!STAFF.includes(ctx.me.role)) { badge.hidden = true; return; }
  const setCount = (n) => { count.textContent = String(n); badge.classList.toggle("hot", n > 0); };
  ctx.refreshAlerts = async () => {
    try { setCount((await api("/v1/alerts/summary")).unacknowledged); } catch { /* shown on the next event */ }
  };
  ctx.refreshAlerts();
  if (!window.EventSource) { setInterval(ctx.refreshAlerts, 5000); return; }
  // Server-sent events: the count on every change and each new alert as it is raised (reconnects itself).
  const source = new EventSource("/v1/alerts/stream");
  source.addEventListener("summary", (e) => setCount(JSON.parse(e.data).unacknowledged));
  source.addEventListener("alert", (e) => {
    const alert = JSON.parse(e.data);
    toast(`新预警：${alert.title}`, "alert");
    for (const fn of ctx.listeners) fn(alert);
  });
}

async function boot() {
  let me;
  try { me = await api("/v1/auth/me"); } catch { return; }
  if (me.kind !== "user") { toLogin(); return; }
  ctx.me = me;
  setCsrf(me.csrf_token);
  setTimezone(me.timezone);
  document.getElementById("who").textContent = `${me.name} · ${ROLE[me.role] || me.role}${me.agent_id ? ` ${me.agent_id}` : ""}`;
  const nav = document.getElementById("nav");
  for (const [name, [text, , roles]] of Object.entries(ROUTES)) {
    if (text && roles.includes(me.role)) nav.append(h("a", { href: `#/${name}`, dataset: { route: name } }, text));
  }
  document.getElementById("logout").addEventListener("click", async () => {
    await api("/v1/auth/logout", { method: "POST" }).catch(() => null);
    location.assign("/login");
  });
  window.addEventListener("hashchange", route);
  startAlertFeed();
  await route();
}

boot();
