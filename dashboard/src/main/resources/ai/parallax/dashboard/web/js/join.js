// Join: the join command, the nodes as they arrive, and the model's layers coloured by the node holding them.
import { h, bytes, copyText, nodeColor } from './util.js';
import { status } from './store.js';

export function joinPage(root) {
  const command = h('code', { id: 'join-command' }, '…');
  const copy = h('button', { class: 'button small', type: 'button', id: 'copy-join',
    onclick: () => copyText(command.textContent, copy) }, 'Copy');
  const note = h('p', { class: 'muted small', id: 'join-note' });
  const summary = h('div', { id: 'join-summary' });
  const table = h('tbody');
  const pipelines = h('div', { id: 'pipelines' });
  const legend = h('div', { class: 'legend' });
  const go = h('a', { class: 'button primary', href: '#/chat', id: 'go-chat', 'aria-disabled': 'true' }, 'Open chat →');
  let wasReady = null;

  root.append(h('div', { class: 'page stack' },
    h('div', {},
      h('h1', {}, 'Add nodes'),
      h('p', { class: 'lead' }, 'Run this command on every machine that should serve a share of the model.')),
    h('section', { class: 'card' },
      h('h2', {}, 'Join command'),
      h('div', { class: 'command' }, command, copy),
      note),
    h('section', { class: 'card' },
      h('div', { class: 'row' }, h('h2', { style: { margin: 0 } }, 'Nodes'), h('span', { class: 'spacer' }), summary),
      h('div', { style: { overflowX: 'auto', marginTop: '10px' } },
        h('table', { class: 'nodes' },
          h('thead', {}, h('tr', {},
            h('th', {}, 'Node'), h('th', { class: 'hide-narrow' }, 'Peer id'), h('th', { class: 'hide-narrow' }, 'Hardware'),
            h('th', {}, 'State'), h('th', {}, 'Loading'))),
          table))),
    h('section', { class: 'card' },
      h('h2', {}, 'Layers'),
      pipelines,
      legend),
    h('div', { class: 'row' }, h('span', { class: 'spacer' }), go)));

  return status.subscribe((s) => {
    command.textContent = s.join?.command || '—';
    note.textContent = s.join?.note || (s.network === 'public'
      ? 'Nodes join over the public network; they need the token in this command.'
      : 'Nodes on this LAN can also drop -s: they find the scheduler by themselves.');
    const ready = s.nodes.filter((n) => n.state === 'ready').length;
    summary.replaceChildren(h('span', { class: 'muted small' },
      `${s.nodes.length} of ${s.nodesExpected} node${s.nodesExpected > 1 ? 's' : ''} joined · ${ready} ready`),
      ' ', h('span', { class: `badge ${s.state}` }, s.state));

    const colorOf = new Map(s.nodes.map((n, i) => [n.id, nodeColor(i)]));
    table.replaceChildren(...s.nodes.map((n) => h('tr', { 'data-node': n.id },
      h('td', { class: 'node-name' }, h('span', { class: 'swatch', style: { background: colorOf.get(n.id) } }), h('strong', {}, n.name),
        h('div', { class: 'muted small' }, n.role)),
      h('td', { class: 'hide-narrow mono' }, n.id),
      h('td', { class: 'hide-narrow small' }, hardware(n.hardware)),
      h('td', {}, h('span', { class: `badge ${n.state}` }, n.state)),
      h('td', {}, h('div', { class: 'row', style: { flexWrap: 'nowrap' } },
        h('div', { class: 'progress', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100,
          'aria-valuenow': Math.round(n.loadProgress * 100), style: { flex: 1 } },
          h('span', { style: { width: `${Math.round(n.loadProgress * 100)}%` } })),
        h('span', { class: 'small muted', style: { minWidth: '3em', textAlign: 'right' } }, `${Math.round(n.loadProgress * 100)}%`))))));
    if (s.nodes.length === 0) {
      table.append(h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'Waiting for the first node…')));
    }

    const total = s.model?.numLayers || 0;
    pipelines.replaceChildren();
    if (!s.model || s.pipelines.length === 0) {
      // While the cluster waits, its message says for what (nodes, or how much memory is missing).
      pipelines.append(h('p', { class: 'muted', id: 'allocation-message' }, s.model
        ? `The ${total} layers of ${s.model.id} are allocated once the nodes can hold them.`
          + (s.state === 'waiting' && s.message ? ` ${s.message.charAt(0).toUpperCase()}${s.message.slice(1)}.` : '')
        : 'No model chosen yet.'));
    }
    for (const p of s.pipelines) {
      const bar = h('div', { class: 'layer-bar', role: 'img',
        'aria-label': `Pipeline ${p.id + 1}: ` + p.stages.map((st) => `layers ${st.start}–${st.end - 1} on ${nameOf(s, st.node)}`).join(', ') });
      let at = 0;
      for (const st of p.stages) {
        if (st.start > at) bar.append(h('div', { class: 'seg', style: { flex: st.start - at, background: 'transparent' } }));
        const node = s.nodes.find((n) => n.id === st.node);
        bar.append(h('div', {
          class: 'seg' + (node && node.state !== 'ready' ? ' loading' : ''),
          'data-node': st.node,
          title: `${nameOf(s, st.node)}: layers ${st.start}–${st.end - 1}`,
          style: { flex: st.end - st.start, background: colorOf.get(st.node) || 'var(--muted)' },
        }, `${st.start}–${st.end - 1}`));
        at = st.end;
      }
      if (at < total) bar.append(h('div', { class: 'seg', style: { flex: total - at } }));
      pipelines.append(h('div', { class: 'pipeline' },
        h('div', { class: 'row small', style: { marginBottom: '6px' } },
          h('strong', {}, `Pipeline ${p.id + 1}`),
          h('span', { class: 'muted' }, `${p.stages.length} stage${p.stages.length > 1 ? 's' : ''}`),
          h('span', { class: `badge ${p.ready ? 'ready' : 'loading'}` }, p.ready ? 'ready' : 'loading')),
        bar,
        h('div', { class: 'layer-scale' }, h('span', {}, 'layer 0'), h('span', {}, `layer ${total - 1}`))));
    }
    legend.replaceChildren(...s.nodes.map((n) => h('span', {},
      h('span', { class: 'swatch', style: { background: colorOf.get(n.id) } }), n.name)));

    const isReady = s.state === 'ready';
    go.setAttribute('aria-disabled', String(!isReady));
    go.classList.toggle('disabled', !isReady);
    // Arriving here while nodes load, move on to the chat by itself once the cluster serves.
    if (isReady && wasReady === false) location.hash = '#/chat';
    wasReady = isReady;
  });
}

function nameOf(s, id) {
  return s.nodes.find((n) => n.id === id)?.name || id;
}

function rate(v) {
  return v < 10 ? v.toFixed(1) : v.toFixed(0);
}

function hardware(hw) {
  if (!hw) return '—';
  const parts = [];
  if (hw.accelerator) parts.push(hw.accelerator);
  if (hw.cores) parts.push(`${hw.cores} cores`);
  if (hw.memoryOfferedBytes) parts.push(`${bytes(hw.memoryOfferedBytes)} offered`);
  else if (hw.memoryTotalBytes) parts.push(`${bytes(hw.memoryFreeBytes)} free of ${bytes(hw.memoryTotalBytes)}`);
  if (hw.memoryBandwidthGBs) parts.push(`${rate(hw.memoryBandwidthGBs)} GB/s`);
  if (hw.matmulGflops) parts.push(`${rate(hw.matmulGflops)} GFLOP/s`);
  return h('span', { title: hw.cpu || '' }, parts.join(' · '));
}
