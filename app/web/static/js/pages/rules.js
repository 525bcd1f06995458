// Rule dry-run (POST /v1/rules/test): a candidate rule change or sensitive word, tried on sample transcripts
// or stored conversations; shows findings gained and lost per rule and conversations newly (un)flagged.
// Nothing is stored.
import { api } from "../api.js";
import { CATEGORY, KIND, SEV, clear, h, label, localDay, num } from "../fmt.js";

const SAMPLE = "客户：东西收到是坏的，怎么办\n客服：这事你找快递去\n\n客户：再不处理我就去12315投诉\n客服：您好，非常抱歉，马上为您处理";
const PATCH = '{"norms.refusal.phrases": ["不知道", "不清楚", "没办法", "找快递去"]}';

function parseTranscripts(text) {
  // One utterance a line, "客户：…" or "客服：…"; an empty line starts the next conversation.
  const now = new Date().toISOString();
  return text.split(/\n\s*\n/).map((block, i) => ({
    external_id: `样例-${i + 1}`, channel: "chat", agent_id: "dry-run", started_at: now,
    utterances: block.split("\n").map((l) => l.trim()).filter(Boolean).map((l) => {
      const m = l.match(/^(客户|客服)\s*[:：]\s*(.+)$/);
      return { speaker: m && m[1] === "客服" ? "agent" : "customer", text: m ? m[2] : l };
    }),
  })).filter((c) => c.utterances.length);
}

const ref = (c) => (c.conversation_id ? h("a", { href: `#/c/${c.conversation_id}` }, c.external_id) : h("span", {}, c.external_id));

function resultView(r) {
  const rules = r.rules.map((x) => h("tr", {},
    h("td", {}, label(KIND, x.kind)), h("td", {}, label(CATEGORY, x.category)), h("td", { class: "muted small" }, x.rule),
    h("td", { class: "up" }, x.gained ? `+${x.gained}` : "0"), h("td", {}, x.lost ? `−${x.lost}` : "0"), h("td", {}, x.conversations),
    h("td", { class: "small" }, x.examples.map((e) => h("div", {}, e.change === "gained" ? "＋ " : "－ ", ref(e.conversation), "：", e.utterance ?? "", e.term ? `（${e.term}）` : "")))));
  const flags = r.flag_changes.map((f) => h("tr", {},
    h("td", {}, f.change === "newly_flagged" ? "新标记" : "取消标记"), h("td", {}, ref(f.conversation)),
    h("td", {}, `${num(f.score_before, 0)} → ${num(f.score_after, 0)}`), h("td", {}, `${label(SEV, f.severity_before)} → ${label(SEV, f.severity_after)}`)));
  return h("div", { id: "dry-run-result" },
    h("p", { id: "dry-run-summary" }, `比较了 ${r.conversations} 个会话${r.truncated ? "（已截断）" : ""}：新增问题 ${r.findings_gained}，减少问题 ${r.findings_lost}，新标记 ${r.newly_flagged} 个会话，取消标记 ${r.unflagged} 个会话。`),
    h("h3", {}, "按规则"),
    rules.length ? h("table", { class: "grid", id: "dry-run-rules" }, h("thead", {}, h("tr", {}, ["类型", "类别", "规则", "新增", "减少", "会话", "示例"].map((t) => h("th", {}, t)))), h("tbody", {}, rules)) : h("p", { class: "muted" }, "规则命中无变化"),
    h("h3", {}, "标记变化"),
    flags.length ? h("table", { class: "grid", id: "dry-run-flags" }, h("thead", {}, h("tr", {}, ["变化", "会话", "得分", "严重度"].map((t) => h("th", {}, t)))), h("tbody", {}, flags)) : h("p", { class: "muted" }, "无会话标记变化"),
    h("p", { class: "muted small" }, `现行：规则 ${r.current.rules_version ?? "—"} / 词库 ${r.current.lexicon_version ?? "—"}；候选：规则 ${r.candidate.rules_version ?? "—"} / 词库 ${r.candidate.lexicon_version ?? "—"}`));
}

export async function show(ctx) {
  const mode = h("select", { id: "change-mode" }, h("option", { value: "word" }, "新增敏感词"), h("option", { value: "patch" }, "修改规则（JSON 补丁）"), h("option", { value: "yaml" }, "完整规则 YAML"));
  const word = {
    category: h("input", { id: "word-category", value: "服务禁语", maxlength: 64 }),
    term: h("input", { id: "word-term", value: "找快递去", maxlength: 200 }),
    severity: h("select", { id: "word-severity" }, ["一般", "重要", "重大"].map((s) => h("option", { value: s }, s))),
    scope: h("select", { id: "word-scope" }, h("option", { value: "agent" }, "客服"), h("option", { value: "customer" }, "客户"), h("option", { value: "any" }, "双方")),
  };
  word.severity.value = "重要";
  const patch = h("textarea", { id: "rules-patch", rows: 6, spellcheck: "false" }, PATCH);
  const yaml = h("textarea", { id: "rules-yaml", rows: 14, spellcheck: "false", placeholder: "粘贴完整的 rules.yaml 候选版本" });
  const wordBox = h("div", { class: "filters" }, h("label", {}, h("span", {}, "类别"), word.category), h("label", {}, h("span", {}, "词"), word.term), h("label", {}, h("span", {}, "严重度"), word.severity), h("label", {}, h("span", {}, "说话人"), word.scope));
  const change = h("div", {}, wordBox);
  mode.addEventListener("change", () => clear(change, mode.value === "word" ? wordBox : mode.value === "patch" ? patch : yaml));

  const source = h("select", { id: "dry-run-source" }, h("option", { value: "samples" }, "样例对话"), h("option", { value: "period" }, "已存会话（按时段）"));
  const samples = h("textarea", { id: "dry-run-samples", rows: 8 }, SAMPLE);
  const since = h("input", { type: "date", value: localDay(-6) });
  const until = h("input", { type: "date", value: localDay(0) });
  const limit = h("input", { type: "number", min: 1, max: 500, value: 100 });
  const out = h("div", {});
  const run = h("button", { type: "button", id: "dry-run-submit" }, "试运行");
  run.addEventListener("click", async () => {
    const body = { examples: 3 };
    try {
      if (mode.value === "word") body.lexicon_entries = [{ category: word.category.value.trim(), term: word.term.value.trim(), severity: word.severity.value, scope: word.scope.value }];
      else if (mode.value === "patch") body.rules_patch = JSON.parse(patch.value);
      else body.rules_yaml = yaml.value;
    } catch { ctx.toast("补丁不是有效的 JSON", "error"); return; }
    if (source.value === "samples") body.transcripts = parseTranscripts(samples.value);
    else Object.assign(body, { since: `${since.value}T00:00:00`, until: `${until.value}T23:59:59`, limit: Number(limit.value) });
    run.disabled = true;
    clear(out, h("p", { class: "muted" }, "运行中（每个会话质检两次）…"));
    try { clear(out, resultView(await api("/v1/rules/test", { method: "POST", body }))); }
    catch (exc) {
      const details = Array.isArray(exc.details) ? exc.details.map((d) => d.msg).join("；") : "";
      clear(out, h("p", { class: "error" }, `失败：${exc.message}${details ? `（${details}）` : ""}`));
    } finally { run.disabled = false; }
  });
  clear(ctx.page, h("div", { class: "bar" }, h("h2", {}, "规则试运行"), h("span", { class: "muted" }, "比较候选规则与现行规则的差异，不保存任何数据。")),
    h("div", { class: "rules-grid" },
      h("section", { class: "card" }, h("h3", {}, "候选变更 ", mode), change),
      h("section", { class: "card" }, h("h3", {}, "试运行数据 ", source), samples, h("div", { class: "actions small" }, "时段 ", since, " 至 ", until, " 最多 ", limit, " 个会话"), h("div", { class: "actions" }, run))),
    out);
}
