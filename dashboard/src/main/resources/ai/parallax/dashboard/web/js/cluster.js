// Cluster: per-node figures, live charts over the last five minutes, and the event log.
import { h, bytes, fixed, clock, json, nodeColor } from './util.js';
import { status } from './store.js';
import { LineChart } from './chart.js';

const CHARTS = [
  { key: 'tokensPerSecond', title: 'Throughput', unit: 'tokens/s', format: (v) => fixed(v, v < 10 ? 1 : 0) },
  { key: 'stepLatencyMs', title: 'Step latency', unit: 'ms', format: (v) => fixed(v, v < 10 ? 1 : 0) },
  { key: 'memoryUsedBytes', title: 'Memory', unit: '', format: (v) => bytes(v) },
  { key: 'kvUsage', title: 'KV cache use', unit: '%', format: (v) => `${fixed(v * 100, 0)}%` },
];

export function clusterPage(root) {
  const cards = h('div', { class: 'node-cards', id: 'node-cards' });
  const events = h('ul', { class: 'events', id: 'events' });
  const charts = CHARTS.map((spec) => {
    const canvas = h('canvas', { 'aria-label': `${spec.title} per node over the last five minutes`, role: 'img' });
    const now = h('span', { class: 'now' }, '—');
    return { spec, canvas, now, chart: new LineChart(canvas, spec.format),
      el: h('section', { class: 'card chart', 'data-chart': spec.key },
        h('div', { class: 'chart-head' }, h('h2', { style: { margin: 0 } }, spec.title), now), canvas) };
  });
  const summary = h('p', { class: 'lead', id: 'cluster-summary' }, 'Waiting for the cluster…');

  root.append(h('div', { class: 'page stack' },
    h('div', {}, h('h1', {}, 'Cluster'), summary),
    cards,
    h('div', { class: 'charts' }, charts.map((c) => c.el)),
    h('section', { class: 'card' }, h('h2', {}, 'Events'), events)));

  let colors = new Map();
  let lastSample = 0;

  async function pullHistory() {
    try {
      const { samples } = await json(`/cluster/history?since=${lastSample}`);
      for (const s of samples) {
        const color = colors.get(s.node) || nodeColor(colors.size);
        for (const c of charts) c.chart.add(s.node, color, s.timeMillis, s[c.spec.key]);
        lastSample = Math.max(lastSample, s.timeMillis);
      }
      redraw();
    } catch {
      // The status poll already reports a lost connection; the next poll fills the gap.
    }
  }

  function redraw() { for (const c of charts) c.chart.draw(); }

  const unsubscribe = status.subscribe((s) => {
    colors = new Map(s.nodes.map((n, i) => [n.id, nodeColor(i)]));
    const tps = clusterTokensPerSecond(s);
    const present = s.nodes.filter((n) => n.state !== 'left').length;
    summary.textContent = `${s.model ? s.model.id : 'No model'} · ${present} node${present === 1 ? '' : 's'} · `
      + `${s.pipelines.length} pipeline${s.pipelines.length === 1 ? '' : 's'} · ${fixed(tps, 1)} tokens/s in all · ${s.state}`;
    cards.replaceChildren(...s.nodes.map((n) => nodeCard(n, colors.get(n.id))));
    if (s.nodes.length === 0) cards.append(h('p', { class: 'muted' }, 'No nodes yet.'));
    for (const c of charts) {
      const values = s.nodes.map((n) => c.spec.key === 'kvUsage'
        ? (n.metrics && n.metrics.kvBlocksTotal ? n.metrics.kvBlocksUsed / n.metrics.kvBlocksTotal : 0)
        : n.metrics?.[c.spec.key]);
      const known = values.filter((v) => v !== null && v !== undefined);
      let now = null;
      if (c.spec.key === 'tokensPerSecond') now = known.length ? tps : null;
      else if (c.spec.key === 'memoryUsedBytes') now = known.length ? known.reduce((a, b) => a + b, 0) : null;
      else now = known.length ? known.reduce((a, b) => a + b, 0) / known.length : null;
      c.now.textContent = now === null ? '—' : `${c.spec.format(now)}${c.spec.unit && c.spec.unit !== '%' ? ` ${c.spec.unit}` : ''}`;
    }
    events.replaceChildren(...s.events.slice().reverse().map((e) => h('li', {},
      h('time', { datetime: new Date(e.timeMillis).toISOString() }, clock(e.timeMillis)),
      h('span', { class: `kind ${e.kind}` }, e.kind),
      h('span', {}, e.message))));
    if (s.events.length === 0) events.append(h('li', { class: 'muted' }, 'Nothing yet.'));
    pullHistory();
  });
  const onResize = () => redraw();
  window.addEventListener('resize', onResize);
  window.addEventListener('themechange', onResize);
  return () => {
    unsubscribe();
    window.removeEventListener('resize', onResize);
    window.removeEventListener('themechange', onResize);
  };
}

/** Tokens/s of the whole cluster: every stage of a pipeline runs the same tokens, so each pipeline counts once. */
function clusterTokensPerSecond(s) {
  const byPipeline = new Map();
  for (const n of s.nodes) {
    const v = n.metrics?.tokensPerSecond;
    if (v === null || v === undefined) continue;
    const key = n.pipeline >= 0 ? `p${n.pipeline}` : `n${n.id}`;
    byPipeline.set(key, Math.max(byPipeline.get(key) || 0, v));
  }
  return [...byPipeline.values()].reduce((a, b) => a + b, 0);
}

function figure(label, value, unit, id) {
  return h('div', { class: 'figure', 'data-figure': id },
    h('div', { class: 'label' }, label),
    h('div', { class: 'value' }, value, unit ? h('small', {}, ` ${unit}`) : null));
}

function nodeCard(n, color) {
  const m = n.metrics || {};
  const kv = m.kvBlocksTotal ? m.kvBlocksUsed / m.kvBlocksTotal : 0;
  const everyLayer = n.layers && n.layers.start === 0 && n.layers.end === n.layers.total;
  const links = n.links && n.links.length
    ? n.links.map((l) => `${l.peer}: ${fixed(l.rttMs, 2)} ms`).join(' · ')
    : n.role.startsWith('scheduler') ? (everyLayer ? 'None: this node runs every layer itself.'
      : 'None to the scheduler: it runs in the scheduler\'s own process.')
      : 'No round trip measured yet.';
  if (n.state === 'left') {
    return h('section', { class: 'card', 'data-node': n.id },
      h('div', { class: 'row' },
        h('span', { class: 'swatch', style: { background: color } }),
        h('strong', { class: 'node-name' }, n.name),
        h('span', { class: 'muted small mono peer-id', title: n.id }, n.id),
        h('span', { class: `badge ${n.state}` }, n.state)),
      h('p', { class: 'muted small' }, 'This node left the cluster; it stays listed for a minute.'));
  }
  return h('section', { class: 'card', 'data-node': n.id },
    h('div', { class: 'row' },
      h('span', { class: 'swatch', style: { background: color } }),
      h('strong', { class: 'node-name' }, n.name),
      h('span', { class: 'muted small mono peer-id', title: n.id }, n.id),
      h('span', { class: `badge ${n.state}` }, n.state)),
    h('div', { class: 'muted small', style: { marginTop: '4px' } },
      n.layers ? `Layers ${n.layers.start}–${n.layers.end - 1} of ${n.layers.total}` : 'No layers', n.pipeline >= 0 ? ` · pipeline ${n.pipeline + 1}` : ''),
    h('div', { class: 'figures' },
      figure('Throughput', fixed(m.tokensPerSecond, 1), 'tok/s', 'throughput'),
      figure('Step latency', fixed(m.stepLatencyMs, 1), 'ms', 'step-latency'),
      // A worker elsewhere does not report its resident set: the figure is what its stage holds.
      figure(n.role === 'worker' ? 'Stage memory' : 'Memory', bytes(m.memoryUsedBytes), '', 'memory'),
      figure('KV cache', `${fixed(kv * 100, 0)}%`, `${m.kvBlocksUsed ?? 0}/${m.kvBlocksTotal ?? 0} blocks`, 'kv'),
      figure('Generated', String(m.generatedTokens ?? 0), 'tokens', 'generated'),
      figure('Running', String(m.runningSequences ?? 0), `${m.waitingRequests ?? 0} waiting`, 'running')),
    h('div', { class: 'small muted', style: { marginTop: '10px' } }, h('strong', {}, 'Links '), links));
}
