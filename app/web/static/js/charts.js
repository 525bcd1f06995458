// Apache ECharts (vendored, loaded by index.html as the global `echarts`), with the console's defaults.

const charts = new Set();
const COLORS = { major: "#b00020", important: "#e8590c", general: "#f2c94c", none: "#adb5bd" };
export const SEVERITY_COLORS = COLORS;

/** Draw `option` into a new chart element; returns the element (it has the class `chart`). */
export function chart(option, { id, height } = {}) {
  const el = document.createElement("div");
  el.className = "chart";
  if (id) el.id = id;
  if (height) el.style.height = `${height}px`;
  // Drawn once the element is in the page (ECharts needs its size).
  requestAnimationFrame(() => {
    const instance = window.echarts.init(el, null, { renderer: "canvas", locale: "ZH" });
    // Tooltips drawn on the canvas (richText), not as HTML with inline styles, which the CSP refuses.
    const tooltip = option.tooltip ? { ...option.tooltip, renderMode: "richText" } : undefined;
    instance.setOption({ animation: false, textStyle: { fontFamily: "Noto Sans CJK SC, PingFang SC, sans-serif" }, ...option, tooltip });
    el.dataset.drawn = "1";
    charts.add(instance);
  });
  return el;
}

export function disposeAll() {
  for (const c of charts) c.dispose();
  charts.clear();
}

window.addEventListener("resize", () => { for (const c of charts) c.resize(); });
