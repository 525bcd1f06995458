// Rule versions (admin): the stored rules.yaml versions, applying a new one (validated by the server; a YAML
// that does not validate changes nothing and its errors are shown) and putting an older one in force again
// (a rollback). GET/POST /v1/admin/rules/versions, POST /v1/admin/rules/versions/{id}/activate.
import { api } from "../api.js";
import { clear, h, time } from "../fmt.js";

function errorText(exc) {
  // 422 invalid_rules: the message names the file and field; a request validation error lists its problems.
  const details = Array.isArray(exc.details) ? exc.details.map((d) => d.msg || String(d)).join("；") : "";
  return `未应用：${exc.message}${details ? `（${details}）` : ""}`;
}

export async function show(ctx) {
  const yaml = h("textarea", { id: "version-yaml", rows: 12, spellcheck: "false", placeholder: "粘贴完整的 rules.yaml 新版本" });
  const note = h("input", { id: "version-note", maxlength: 2000, placeholder: "变更说明（可选）" });
  const apply = h("button", { type: "button", id: "version-apply" }, "校验并应用新版本");
  const message = h("p", { id: "version-message" });
  const status = h("p", { id: "versions-status", class: "muted" });
  const list = h("div", { id: "versions-list" });

  async function activate(v) {
    try {
      const r = await api(`/v1/admin/rules/versions/${v.id}/activate`, { method: "POST" });
      ctx.toast(`已回滚：第 ${r.version} 版现已生效`);
      await load();
    } catch (exc) { ctx.toast(`启用失败：${exc.message}`, "error"); }
  }
  function row(v) {
    return h("tr", { dataset: { version: v.version }, class: v.active ? "active-version" : null },
      h("td", {}, `第 ${v.version} 版`),
      h("td", { class: "version-state" }, v.active ? h("b", {}, "生效中") : "未生效"),
      h("td", {}, v.created_by), h("td", {}, time(v.created_at)), h("td", {}, v.note || "—"),
      h("td", { class: "muted small", title: v.sha256 }, v.sha256.slice(0, 12)),
      h("td", {},
        h("button", { type: "button", class: "secondary small load-btn", onclick: () => { yaml.value = v.yaml; yaml.focus(); } }, "载入编辑"), " ",
        v.active ? null : h("button", { type: "button", class: "small activate-btn", onclick: () => activate(v) }, "回滚到此版本")));
  }
  async function load() {
    const r = await api("/v1/admin/rules/versions");
    status.textContent = r.active_version === null
      ? `当前生效：lexicons/rules.yaml 文件（规则版本 ${r.rules_version}），尚无保存的版本`
      : `当前生效：第 ${r.active_version} 版（规则版本 ${r.rules_version}）`;
    const active = r.items.find((v) => v.active);
    if (!yaml.value && active) yaml.value = active.yaml;
    clear(list, r.items.length
      ? h("table", { class: "grid", id: "versions-table" },
        h("thead", {}, h("tr", {}, ["版本", "状态", "创建人", "创建时间", "说明", "SHA-256", "操作"].map((t) => h("th", {}, t)))),
        h("tbody", {}, r.items.map(row)))
      : h("p", { class: "empty" }, "暂无保存的版本：应用第一个新版本时，现行文件会先保存为第 1 版，以便回滚"));
  }
  apply.addEventListener("click", async () => {
    if (!yaml.value.trim()) { clear(message, h("span", { class: "error" }, "请先填写规则 YAML")); return; }
    apply.disabled = true;
    clear(message, h("span", { class: "muted" }, "校验中…"));
    try {
      const v = await api("/v1/admin/rules/versions", { method: "POST", body: { yaml: yaml.value, note: note.value.trim() || null } });
      clear(message, h("span", { class: "ok" }, `已应用：第 ${v.version} 版现已生效`));
      note.value = "";
      await load();
    } catch (exc) {
      clear(message, h("span", { class: "error", id: "version-error" }, errorText(exc)));
    } finally { apply.disabled = false; }
  });
  clear(ctx.page,
    h("div", { class: "bar" }, h("h2", {}, "规则版本"), h("span", { class: "muted" }, "应用前请先在“规则试运行”中比较差异；回滚即重新启用旧版本。")),
    status,
    h("section", { class: "card" }, h("h3", {}, "应用新版本"), yaml, h("div", { class: "filters" }, h("label", {}, h("span", {}, "说明"), note), apply), message),
    h("h3", {}, "历史版本"), list);
  await load();
}
