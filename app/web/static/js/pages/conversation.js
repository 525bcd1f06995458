// One conversation: why it was flagged (findings highlighted in the transcript), the emotion strip over the
// call, the recording (a finding's time is a click away), review and appeal actions, and the history.
import { api } from "../api.js";
import {
  APPEAL, CATEGORY, CHANNEL, DIMENSION, EMO, KIND, REVIEW, SEV, SPEAKER, STATUS, TRAJ,
  clear, detailText, h, label, num, seconds, sevBadge, time,
} from "../fmt.js";
import { nextInQueue } from "./queue.js";

const findingLabel = (f) => `${label(KIND, f.kind)} · ${label(CATEGORY, f.category)}${f.term ? `「${f.term}」` : ""}`;

function highlighted(text, findings) {
  const out = [];
  let pos = 0;
  for (const f of [...findings].sort((a, b) => a.start - b.start)) {
    if (f.start < pos || f.start === null) continue;
    out.push(text.slice(pos, f.start));
    out.push(h("mark", {
      class: `hl sev-bg-${f.severity}${f.overturned_at ? " overturned" : ""}`, id: `hl-${f.id}`,
      title: `${findingLabel(f)} · ${label(SEV, f.severity)}`,
    }, text.slice(f.start, f.end)));
    pos = f.end;
  }
  out.push(text.slice(pos));
  return out;
}

function emotionStrip(c, jump) {
  // Two lanes (customer, agent) over the call's time line; without times, one equal slot per utterance.
  const timed = c.utterances.every((u) => u.start_ms !== null && u.end_ms !== null);
  const total = timed ? Math.max(1, ...c.utterances.map((u) => u.end_ms)) : c.utterances.length;
  const lanes = { customer: h("div", { class: "lane" }), agent: h("div", { class: "lane" }) };
  const marks = h("div", { class: "lane marks" });
  const place = (el, u) => {
    const start = timed ? u.start_ms : u.index;
    const width = timed ? Math.max(u.end_ms - u.start_ms, total / 400) : 1;
    el.style.left = `${(100 * start) / total}%`;
    el.style.width = `${(100 * width) / total}%`;
  };
  for (const u of c.utterances) {
    const lane = lanes[u.speaker] || lanes.customer;
    const seg = h("button", {
      type: "button", class: `seg emo-bg-${u.emotion || "none"}`,
      title: `${label(SPEAKER, u.speaker)} ${seconds(u.start_ms)} ${label(EMO, u.emotion)} ${u.emotion_confidence !== null && u.emotion_confidence !== undefined ? num(u.emotion_confidence, 2) : ""}`,
      onclick: () => jump(u.index, u.start_ms),
    });
    if (u.emotion_confidence) seg.style.opacity = String(0.35 + 0.65 * u.emotion_confidence);
    place(seg, u);
    lane.append(seg);
  }
  for (const f of c.findings.filter((x) => x.utterance_index !== null && x.severity !== "none")) {
    const u = c.utterances[f.utterance_index];
    if (!u) continue;
    const tick = h("button", { type: "button", class: `tick sev-bg-${f.severity}`, title: findingLabel(f), onclick: () => jump(u.index, u.start_ms, f.id) });
    place(tick, u);
    tick.style.width = "";
    marks.append(tick);
  }
  const legend = h("div", { class: "legend small" }, ["angry", "anxious", "sad", "neutral", "happy", "surprised"].map((e) => h("span", {}, h("i", { class: `sw emo-bg-${e}` }), label(EMO, e))));
  return h("section", { class: "strip", id: "emotion-strip" },
    h("div", { class: "strip-row" }, h("span", { class: "lane-name" }, "问题"), marks),
    h("div", { class: "strip-row" }, h("span", { class: "lane-name" }, "客户"), lanes.customer),
    h("div", { class: "strip-row" }, h("span", { class: "lane-name" }, "客服"), lanes.agent),
    legend);
}

// What audio redaction silenced, by the kind of personal data the masker saw there.
const PII_KIND = {
  mobile: "手机号", landline: "座机号", id_card: "身份证号", bank_card: "银行卡号", email: "邮箱",
  wechat: "微信号", qq: "QQ 号", digits: "数字串",
};

function redactionBar(player, redactions) {
  // The silenced stretches shaded on a time line as wide as the player; placed as shares of the recording's
  // duration once the player knows it (the API does not send it), a click plays from the stretch.
  const marks = redactions.map((r) => h("button", {
    type: "button", class: `redaction ch-${r.channel}`,
    title: `已消音（${label(PII_KIND, r.kind)}）${seconds(r.start_ms)}–${seconds(r.end_ms)} · ${label(SPEAKER, r.speaker)}`,
    dataset: { startMs: r.start_ms, endMs: r.end_ms },
    onclick: () => { player.currentTime = r.start_ms / 1000; },
  }));
  const bar = h("div", { class: "redaction-bar", id: "redaction-bar", title: `录音中 ${redactions.length} 处个人信息已消音` }, marks);
  const place = () => {
    const total = player.duration * 1000;
    if (!Number.isFinite(total) || total <= 0) return;
    marks.forEach((m, i) => {
      const r = redactions[i];
      m.style.left = `${(100 * r.start_ms) / total}%`;
      m.style.width = `${(100 * Math.max(r.end_ms - r.start_ms, 0)) / total}%`;
    });
    bar.classList.add("placed");
  };
  player.addEventListener("loadedmetadata", place);
  if (player.readyState >= 1) place();
  return bar;
}

function historyItems(c, appeals) {
  const items = c.reviews.map((r) => ({ at: r.created_at, el: h("li", {}, h("b", {}, label(REVIEW, r.status)), ` · ${r.reviewer} · ${time(r.created_at)}`, r.note ? h("div", { class: "note" }, r.note) : null) }));
  for (const a of appeals) {
    const what = a.finding ? `${label(CATEGORY, a.finding.category)}${a.finding.term ? `「${a.finding.term}」` : ""}` : "（问题已不存在）";
    items.push({ at: a.created_at, el: h("li", { class: "appeal-item" }, h("b", {}, "申诉"), ` · ${a.created_by} · ${time(a.created_at)} · ${what}`, h("div", { class: "note" }, `理由：${a.reason}`)) });
    if (a.decided_at) {
      items.push({ at: a.decided_at, el: h("li", { class: "appeal-item" }, h("b", {}, `申诉裁决：${label(APPEAL, a.status)}`), ` · ${a.decided_by} · ${time(a.decided_at)}`, a.decision_note ? h("div", { class: "note" }, a.decision_note) : null) });
    }
  }
  return items.sort((x, y) => new Date(x.at) - new Date(y.at)).map((x) => x.el);
}

export async function show(ctx, { args, params }) {
  const id = args[0];
  const role = ctx.me.role;
  const canReview = ["supervisor", "admin"].includes(role);
  const canAppeal = ["agent", "supervisor", "admin"].includes(role);
  const c = await api(`/v1/conversations/${id}`);
  const appeals = ["agent", "supervisor", "auditor", "admin"].includes(role)
    ? await api(`/v1/conversations/${id}/appeals`).catch(() => []) : [];
  const openAppeal = new Set(appeals.filter((a) => a.status === "open").map((a) => a.finding_id));

  const canListen = ["supervisor", "auditor", "admin"].includes(role);
  const player = c.audio_available && canListen ? h("audio", { id: "player", controls: true, preload: "metadata", src: `/v1/conversations/${id}/audio` }) : null;
  const jump = (index, ms, findingId) => {
    const row = document.getElementById(`u-${index}`);
    if (row) { row.scrollIntoView({ block: "center", behavior: "smooth" }); row.classList.add("flash"); setTimeout(() => row.classList.remove("flash"), 1200); }
    if (findingId) document.getElementById(`hl-${findingId}`)?.classList.add("focus");
    if (player && ms !== null && ms !== undefined) { player.currentTime = ms / 1000; player.play().catch(() => null); }
  };

  const byUtt = {};
  for (const f of c.findings) if (f.utterance_index !== null && f.start !== null) (byUtt[f.utterance_index] ||= []).push(f);
  const transcript = h("section", { class: "transcript", id: "transcript" }, c.utterances.map((u) => h("div", { class: `utt ${u.speaker}`, id: `u-${u.index}` },
    h("span", { class: "spk" }, label(SPEAKER, u.speaker)),
    u.start_ms !== null ? h("button", { type: "button", class: "ts", onclick: () => jump(u.index, u.start_ms) }, seconds(u.start_ms)) : null,
    h("span", { class: "text" }, highlighted(u.text, byUtt[u.index] || [])),
    u.emotion && u.emotion !== "neutral" ? h("span", { class: `emo emo-${u.emotion}` }, label(EMO, u.emotion), u.emotion_confidence ? ` ${num(u.emotion_confidence, 2)}` : "") : null,
  )));

  const appealBox = h("div", { id: "appeal-box" });
  function appealForm(f) {
    const reason = h("textarea", { id: "appeal-reason", rows: 3, maxlength: 2000, placeholder: "申诉理由（必填）" });
    clear(appealBox, h("div", { class: "card" }, h("div", {}, "对问题提出申诉：", h("b", {}, findingLabel(f))), reason,
      h("div", { class: "actions" },
        h("button", { type: "button", id: "appeal-submit", onclick: async () => {
          if (!reason.value.trim()) { ctx.toast("请填写申诉理由", "error"); return; }
          try {
            await api(`/v1/conversations/${id}/appeals`, { method: "POST", body: { finding_id: f.id, reason: reason.value.trim() } });
            ctx.toast("申诉已提交，等待主管裁决");
            await show(ctx, { args, params });
          } catch (exc) { ctx.toast(exc.code === "appeal_open" ? "该问题已有待裁决的申诉" : exc.message, "error"); }
        } }, "提交申诉"),
        h("button", { type: "button", class: "ghost", onclick: () => clear(appealBox) }, "取消"))));
    reason.focus();
  }
  const findings = h("ul", { class: "findings", id: "findings" }, c.findings.filter((f) => f.severity !== "none").map((f) => h("li", { class: f.overturned_at ? "overturned" : "" },
    sevBadge(f.severity), " ",
    h("a", { href: "#", class: "finding-link", onclick: (e) => { e.preventDefault(); jump(f.utterance_index, f.start_ms, f.id); } }, findingLabel(f)),
    f.start_ms !== null && f.start_ms !== undefined ? h("span", { class: "muted small" }, ` ${seconds(f.start_ms)}`) : null,
    f.detail ? h("div", { class: "muted small" }, detailText(f.detail)) : null,
    f.overturned_at ? h("span", { class: "tag" }, "申诉撤销，不计分") : null,
    openAppeal.has(f.id) ? h("span", { class: "tag" }, "申诉中") : null,
    canAppeal && !f.overturned_at && !openAppeal.has(f.id) && f.id ? h("button", { type: "button", class: "small ghost appeal-btn", onclick: () => appealForm(f) }, "申诉") : null,
  )));

  const note = h("textarea", { id: "review-note", rows: 2, maxlength: 5000, placeholder: "复核备注（可选）" });
  async function review(status) {
    await api(`/v1/conversations/${id}/review`, { method: "POST", body: { status, note: note.value.trim() || null } });
    ctx.toast(status === "reviewed" ? "已确认违规" : "已驳回（误报）");
    if (params.get("from") === "queue") {
      const next = await nextInQueue(id);
      location.hash = next ? `#/c/${next.id}?from=queue` : "#/queue";
    } else {
      await show(ctx, { args, params });
    }
  }
  const reviewBox = canReview ? h("section", { class: "card", id: "review-box" }, h("h3", {}, "复核"), note,
    h("div", { class: "actions" },
      h("button", { type: "button", id: "review-confirm", onclick: () => review("reviewed") }, "确认违规"),
      h("button", { type: "button", id: "review-dismiss", class: "secondary", onclick: () => review("dismissed") }, "误报驳回"))) : null;

  const breakdown = (c.score_breakdown?.items || []).map((i) => h("tr", {}, h("td", { class: "nowrap" }, label(DIMENSION, i.dimension)), h("td", {}, num(i.points, 0)), h("td", {}, i.reason)));
  const keywords = c.keywords.filter((k) => !k.speaker).slice(0, 12).map((k) => h("span", { class: "kw" }, k.term));
  const back = params.get("from") === "queue" ? "#/queue" : "#/search";

  clear(ctx.page,
    h("div", { class: "bar" },
      h("a", { href: back, class: "ghost-link" }, "← 返回"),
      h("h2", { id: "conv-title" }, c.external_id), sevBadge(c.severity),
      h("span", { class: "score" }, `${num(c.score, 0)} 分`),
      h("span", { class: `review review-${c.review_status}`, id: "review-status" }, label(REVIEW, c.review_status)),
      h("span", { class: "muted" }, `坐席 ${c.agent_id} · ${label(CHANNEL, c.channel)} · ${time(c.started_at)} · ${label(STATUS, c.status)} · 情绪走势：${label(TRAJ, c.emotion_trajectory)}`),
      c.dissatisfaction !== null ? h("span", { class: `score${c.dissatisfaction >= 0.5 ? " low" : ""}`, id: "dissatisfaction", title: "客户不满意离开的概率（整段会话）" }, `不满意度 ${Math.round(c.dissatisfaction * 100)}%`) : null,
    ),
    c.dissatisfaction >= 0.3 && c.dissatisfaction_turns.length ? h("p", { class: "muted small", id: "dissatisfaction-turns" }, "不满意主要来自：",
      c.dissatisfaction_turns.map((t) => h("button", { type: "button", class: "ghost", onclick: () => jump(t.index, c.utterances.find((u) => u.index === t.index)?.start_ms ?? null) }, `第 ${t.index + 1} 句`))) : null,
    c.analysis_error ? h("p", { class: "error" }, c.analysis_error) : null,
    emotionStrip(c, jump),
    player ? h("div", { class: "player" },
      h("div", { class: "player-track" }, player, c.redactions.length ? redactionBar(player, c.redactions) : null),
      c.redactions.length ? h("span", { class: "muted small" }, `录音中 ${c.redactions.length} 处个人信息已消音`) : null) : null,
    h("div", { class: "two-col" },
      transcript,
      h("aside", { class: "side" },
        h("section", { class: "card" }, h("h3", {}, `问题（${c.findings.filter((f) => f.severity !== "none").length}）`), findings, appealBox),
        reviewBox,
        h("section", { class: "card" }, h("h3", {}, "扣分明细"), breakdown.length ? h("table", { class: "grid compact" }, h("tbody", {}, breakdown)) : h("p", { class: "muted" }, "无扣分")),
        keywords.length ? h("section", { class: "card" }, h("h3", {}, "关键词"), h("div", {}, keywords)) : null,
        h("section", { class: "card" }, h("h3", {}, "处理记录"), h("ol", { class: "history", id: "history" }, historyItems(c, appeals).length ? historyItems(c, appeals) : h("li", { class: "muted" }, "暂无"))),
      )),
  );
}
