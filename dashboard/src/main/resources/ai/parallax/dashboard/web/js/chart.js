// A small canvas line chart: one line per node over a fixed time window, redrawn on each new sample.

const WINDOW_MILLIS = 5 * 60 * 1000;

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

/** Canvas takes no CSS variables: `var(--node-0)` becomes the colour it names. */
function resolve(color) {
  const m = /^var\((--[\w-]+)\)$/.exec(color);
  return m ? cssVar(m[1]) : color;
}

export class LineChart {
  /** @param format turns a y value into a short label */
  constructor(canvas, format) {
    this.canvas = canvas;
    this.format = format;
    this.series = new Map(); // node id -> {color, points: [[t, v]]}
  }

  add(node, color, time, value) {
    let s = this.series.get(node);
    if (!s) { s = { color, points: [] }; this.series.set(node, s); }
    const last = s.points[s.points.length - 1];
    if (last && last[0] >= time) return;
    s.points.push([time, value]);
    while (s.points.length && s.points[0][0] < time - WINDOW_MILLIS) s.points.shift();
  }

  draw(now = Date.now()) {
    const c = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const width = c.clientWidth;
    const height = c.clientHeight;
    if (!width || !height) return;
    if (c.width !== Math.round(width * dpr) || c.height !== Math.round(height * dpr)) {
      c.width = Math.round(width * dpr);
      c.height = Math.round(height * dpr);
    }
    const g = c.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, width, height);
    const left = 52;
    const right = 8;
    const top = 8;
    const bottom = 20;
    const w = width - left - right;
    const hgt = height - top - bottom;
    let max = 0;
    for (const s of this.series.values()) for (const [, v] of s.points) if (v !== null && v > max) max = v;
    max = niceMax(max * 1.1);
    const start = now - WINDOW_MILLIS;
    const x = (t) => left + ((t - start) / WINDOW_MILLIS) * w;
    const y = (v) => top + hgt - (v / max) * hgt;

    g.font = '11px system-ui, sans-serif';
    g.fillStyle = cssVar('--muted');
    g.strokeStyle = cssVar('--border');
    g.lineWidth = 1;
    g.textAlign = 'right';
    g.textBaseline = 'middle';
    for (let i = 0; i <= 4; i++) {
      const v = (max / 4) * i;
      const yy = Math.round(y(v)) + 0.5;
      g.beginPath(); g.moveTo(left, yy); g.lineTo(left + w, yy); g.stroke();
      g.fillText(this.format(v), left - 6, yy);
    }
    g.textAlign = 'center';
    g.textBaseline = 'top';
    for (let m = 0; m <= 5; m++) {
      const t = start + m * 60000;
      g.fillText(m === 5 ? 'now' : `-${5 - m} min`, Math.min(Math.max(x(t), left + 16), left + w - 12), top + hgt + 5);
    }
    for (const s of this.series.values()) {
      g.strokeStyle = resolve(s.color);
      g.lineWidth = 2;
      g.lineJoin = 'round';
      g.beginPath();
      let drawing = false;
      for (const [t, v] of s.points) {
        if (v === null || v === undefined) { drawing = false; continue; }
        if (!drawing) { g.moveTo(x(t), y(v)); drawing = true; } else g.lineTo(x(t), y(v));
      }
      g.stroke();
      // A faint area under each unbroken run of points makes short bursts visible on a five-minute axis.
      g.globalAlpha = 0.12;
      g.fillStyle = resolve(s.color);
      let run = [];
      const fillRun = () => {
        if (run.length > 1) {
          g.beginPath();
          g.moveTo(x(run[0][0]), y(0));
          for (const [t, v] of run) g.lineTo(x(t), y(v));
          g.lineTo(x(run[run.length - 1][0]), y(0));
          g.closePath();
          g.fill();
        }
        run = [];
      };
      for (const p of s.points) { if (p[1] === null || p[1] === undefined) fillRun(); else run.push(p); }
      fillRun();
      g.globalAlpha = 1;
    }
  }
}
