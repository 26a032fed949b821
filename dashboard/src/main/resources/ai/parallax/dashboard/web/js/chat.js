// Chat: conversations kept in localStorage, replies streamed over the chat WebSocket and rendered as they arrive.
import { h, fixed, copyText } from './util.js';
import { status } from './store.js';
import { renderMarkdown, splitThinking } from './markdown.js';

const STORE = 'parallax.conversations';
const ACTIVE = 'parallax.activeConversation';
const SETTINGS = 'parallax.settings';
const DEFAULT_SETTINGS = { temperature: 0.7, topP: 0.95, maxTokens: 512, system: '' };

function load(key, fallback) {
  try { return JSON.parse(localStorage.getItem(key)) ?? fallback; } catch { return fallback; }
}
function save(key, value) { localStorage.setItem(key, JSON.stringify(value)); }

/**
 * One WebSocket to the chat endpoint, reopened by itself when it drops. One generation at a time, as the server
 * allows per socket.
 */
class ChatSocket {
  constructor(onState) {
    this.onState = onState;
    this.ws = null;
    this.active = null;
    this.retries = 0;
    this.closed = false;
    this.open();
  }

  open() {
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/chat/completions/ws`;
    const ws = new WebSocket(url);
    this.ws = ws;
    this.onState('connecting');
    ws.onopen = () => { this.retries = 0; this.onState('open'); };
    ws.onmessage = (e) => this.message(e.data);
    ws.onclose = () => {
      if (this.ws !== ws) return;
      if (this.active) {
        this.active.fail('The connection to the server was lost during this reply.');
        this.active = null;
      }
      if (this.closed) return;
      const delay = Math.min(10000, 500 * 2 ** Math.min(this.retries++, 5));
      this.onState('down', delay);
      this.timer = setTimeout(() => this.open(), delay);
    };
  }

  get ready() { return this.ws && this.ws.readyState === WebSocket.OPEN; }

  message(data) {
    const run = this.active;
    if (!run) return;
    if (data === '[DONE]') {
      this.active = null;
      run.done();
      return;
    }
    let chunk;
    try { chunk = JSON.parse(data); } catch { run.fail('The server sent a message that is not JSON.'); this.active = null; return; }
    if (chunk.error) {
      this.active = null;
      run.fail(chunk.error.message || 'The server refused the request.');
      return;
    }
    run.chunk(chunk);
  }

  /** Starts a generation; `run` gets chunk(c), done() and fail(message). */
  send(request, run) {
    if (!this.ready) {
      run.fail('Not connected to the server yet; wait a moment and send again.');
      return;
    }
    this.active = run;
    this.ws.send(JSON.stringify(request));
  }

  cancel() {
    if (this.ready && this.active) this.ws.send(JSON.stringify({ type: 'cancel' }));
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close();
  }
}

export function chatPage(root) {
  let conversations = load(STORE, []);
  let activeId = localStorage.getItem(ACTIVE);
  const settings = { ...DEFAULT_SETTINGS, ...load(SETTINGS, {}) };
  let generating = null;
  let stopRequested = false;
  const requestStop = () => { if (generating) { stopRequested = true; socket.cancel(); } };

  const list = h('ul', { id: 'conversations', 'aria-label': 'Conversations' });
  const messages = h('div', { class: 'messages-inner', id: 'messages', 'aria-live': 'polite' });
  const scroller = h('div', { class: 'messages' }, messages);
  const input = h('textarea', { id: 'prompt', rows: 1, placeholder: 'Message the model…',
    title: 'Enter sends, Shift+Enter adds a line, Esc stops the reply', 'aria-label': 'Message' });
  const send = h('button', { class: 'button primary', type: 'submit', id: 'send' }, 'Send');
  const stop = h('button', { class: 'button danger', type: 'button', id: 'stop', hidden: true,
    title: 'Stop the reply (Esc)', onclick: () => requestStop() }, '■ Stop');
  const socketNote = h('div', { class: 'small muted', id: 'socket-state', 'aria-live': 'polite' });
  const layout = h('div', { class: 'chat' });

  const socket = new ChatSocket((state, delay) => {
    socketNote.textContent = state === 'down'
      ? `Chat connection lost; reconnecting in ${Math.round(delay / 1000)} s…`
      : state === 'connecting' ? 'Connecting…' : '';
    socketNote.style.color = state === 'down' ? 'var(--err)' : '';
  });

  const field = (label, id, attrs, key, parse) => {
    const el = h('input', { id, ...attrs, value: settings[key] });
    el.addEventListener('change', () => {
      const v = parse(el.value);
      if (!Number.isNaN(v)) { settings[key] = v; save(SETTINGS, settings); }
      el.value = settings[key];
    });
    return h('label', { class: 'field', for: id }, label, el);
  };
  const system = h('textarea', { id: 'system-prompt', rows: 2, placeholder: 'Optional instructions for every reply' }, settings.system);
  system.addEventListener('change', () => { settings.system = system.value; save(SETTINGS, settings); });
  const settingsPanel = h('details', { class: 'settings', id: 'settings' },
    h('summary', {}, 'Sampling settings'),
    h('div', { class: 'settings-grid' },
      field('Temperature', 'temperature', { type: 'number', min: 0, max: 2, step: 0.05 }, 'temperature', parseFloat),
      field('Top p', 'top-p', { type: 'number', min: 0.01, max: 1, step: 0.01 }, 'topP', parseFloat),
      field('Max tokens', 'max-tokens', { type: 'number', min: 1, max: 131072, step: 1 }, 'maxTokens', (v) => parseInt(v, 10)),
      h('label', { class: 'field wide', for: 'system-prompt' }, 'System prompt', system)));

  const form = h('form', { onsubmit: (e) => { e.preventDefault(); submit(); } }, input, send, stop);
  layout.append(
    h('aside', { class: 'conversations' },
      h('div', { class: 'head row' },
        h('button', { class: 'button primary', type: 'button', id: 'new-chat', style: { flex: 1 },
          onclick: () => { newConversation(); layout.classList.remove('show-list'); input.focus(); } }, '+ New chat'),
        h('button', { class: 'button chat-toggle', type: 'button', onclick: () => layout.classList.remove('show-list'),
          'aria-label': 'Close the list' }, '✕')),
      list),
    h('section', { class: 'chat-main' },
      h('div', { class: 'row chat-toggle', style: { padding: '8px 12px', borderBottom: '1px solid var(--border)' } },
        h('button', { class: 'button small', type: 'button', onclick: () => layout.classList.add('show-list') }, '☰ Conversations')),
      scroller,
      h('div', { class: 'composer' }, h('div', { class: 'composer-inner' }, form, socketNote, settingsPanel))));
  root.append(layout);
  root.style.overflow = 'hidden';

  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); }
  });
  input.addEventListener('input', () => {
    input.style.height = 'auto';
    input.style.height = `${Math.min(200, input.scrollHeight)}px`;
  });
  const onKey = (e) => { if (e.key === 'Escape') requestStop(); };
  document.addEventListener('keydown', onKey);
  messages.addEventListener('click', (e) => {
    if (e.target.classList.contains('copy-code')) copyText(e.target.nextElementSibling.textContent, e.target);
  });

  function active() { return conversations.find((c) => c.id === activeId); }

  function persist() { save(STORE, conversations); localStorage.setItem(ACTIVE, activeId || ''); }

  function newConversation() {
    if (generating) return;
    const c = { id: crypto.randomUUID ? crypto.randomUUID() : String(Date.now()), title: 'New chat', created: Date.now(), messages: [] };
    conversations.unshift(c);
    activeId = c.id;
    persist();
    renderList();
    renderMessages();
  }

  function renderList() {
    list.replaceChildren(...conversations.map((c) => h('li', { class: c.id === activeId ? 'active' : '' },
      h('button', { class: 'open', type: 'button', 'aria-current': c.id === activeId ? 'true' : null, title: c.title,
        onclick: () => { if (!generating) { activeId = c.id; persist(); renderList(); renderMessages(); layout.classList.remove('show-list'); } } }, c.title),
      h('button', { class: 'delete', type: 'button', 'aria-label': `Delete ${c.title}`, title: 'Delete',
        onclick: () => {
          if (generating && c.id === activeId) return;
          conversations = conversations.filter((x) => x.id !== c.id);
          if (activeId === c.id) activeId = conversations[0]?.id || null;
          persist(); renderList(); renderMessages();
        } }, '×'))));
    if (conversations.length === 0) list.append(h('li', { class: 'muted small', style: { padding: '8px 10px' } }, 'No conversations yet.'));
  }

  function renderMessages() {
    const c = active();
    messages.replaceChildren();
    if (!c || c.messages.length === 0) {
      const model = status.value?.model?.id;
      messages.append(h('div', { class: 'empty-chat' },
        h('h2', {}, 'What shall we talk about?'),
        h('p', {}, model ? `Replies come from ${model}, served by your cluster.` : 'Replies come from your cluster.')));
      return;
    }
    for (const m of c.messages) messages.append(messageView(m));
    scroller.scrollTop = scroller.scrollHeight;
  }

  function messageView(m) {
    if (m.role === 'user') {
      return h('div', { class: 'message user', 'data-role': 'user' },
        h('div', { class: 'who' }, 'You'), h('div', { class: 'bubble' }, m.content));
    }
    const view = h('div', { class: 'message assistant', 'data-role': 'assistant', 'data-state': m.state || 'done' });
    fillAssistant(view, m);
    return view;
  }

  function fillAssistant(view, m) {
    const split = m.reasoning ? { reasoning: m.reasoning, content: m.content, thinking: m.state === 'streaming' && !m.content }
      : splitThinking(m.content || '');
    const parts = [h('div', { class: 'who' }, status.value?.model?.id || 'Assistant')];
    if (split.reasoning) {
      const details = h('details', { class: 'think', open: split.thinking || null },
        h('summary', {}, split.thinking ? 'Thinking…' : 'Reasoning'),
        h('div', { class: 'reasoning' }, split.reasoning));
      parts.push(details);
    }
    const content = h('div', { class: 'content' + (m.state === 'streaming' ? ' cursor' : ''), html: renderMarkdown(split.content || '') });
    parts.push(content);
    const meta = h('div', { class: 'reply-meta' });
    if (m.stats) {
      meta.append(h('span', { class: 'tokens' }, `${m.stats.tokens} tokens`));
      if (m.stats.tokensPerSecond) meta.append(h('span', { class: 'tps' }, `${fixed(m.stats.tokensPerSecond, 1)} tokens/s`));
      if (m.stats.ttftMs !== undefined && m.stats.ttftMs !== null) meta.append(h('span', { class: 'ttft' }, `${fixed(m.stats.ttftMs, 0)} ms to first token`));
    }
    if (m.state === 'stopped') meta.append(h('span', { class: 'stopped' }, 'Stopped'));
    if (m.error) meta.append(h('span', { class: 'error', role: 'alert' }, m.error));
    if (meta.childNodes.length) parts.push(meta);
    view.replaceChildren(...parts);
    view.dataset.state = m.state || 'done';
  }

  function submit() {
    const text = input.value.trim();
    if (!text || generating) return;
    const model = status.value?.model?.id;
    if (!model || status.value.state !== 'ready') {
      flash(status.value ? `The cluster is ${status.value.state}; it can chat once it is ready.` : 'Not connected to the server.');
      return;
    }
    if (!active()) newConversation();
    const c = active();
    if (c.messages.length === 0) c.title = text.length > 48 ? `${text.slice(0, 47)}…` : text;
    c.messages.push({ role: 'user', content: text });
    const reply = { role: 'assistant', content: '', reasoning: '', state: 'streaming' };
    c.messages.push(reply);
    input.value = '';
    input.style.height = '';
    persist();
    renderList();
    renderMessages();
    const view = messages.lastElementChild;

    const history = [];
    if (settings.system.trim()) history.push({ role: 'system', content: settings.system });
    for (const m of c.messages.slice(0, -1)) {
      if (m.role === 'user' || m.content) history.push({ role: m.role, content: m.content });
    }
    const started = performance.now();
    let first = null;
    let chunks = 0;
    let usageTokens = null;
    let pending = false;
    const paint = () => {
      pending = false;
      const nearBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
      fillAssistant(view, reply);
      if (nearBottom) scroller.scrollTop = scroller.scrollHeight;
    };
    const schedule = () => { if (!pending) { pending = true; requestAnimationFrame(paint); } };
    const finish = (state, error) => {
      const end = performance.now();
      const tokens = usageTokens ?? chunks;
      reply.state = state;
      if (error) reply.error = error;
      reply.stats = {
        tokens,
        ttftMs: first === null ? null : first - started,
        tokensPerSecond: first !== null && tokens > 1 && end > first ? (tokens - 1) / ((end - first) / 1000) : null,
      };
      generating = null;
      send.hidden = false;
      stop.hidden = true;
      persist();
      paint();
    };
    generating = reply;
    stopRequested = false;
    send.hidden = true;
    stop.hidden = false;
    socket.send({
      model,
      messages: history,
      temperature: settings.temperature,
      top_p: settings.topP,
      max_tokens: settings.maxTokens,
      stream: true,
      stream_options: { include_usage: true },
    }, {
      chunk(c) {
        if (c.usage) usageTokens = c.usage.completion_tokens;
        const delta = c.choices?.[0]?.delta;
        if (!delta) return;
        if (delta.content || delta.reasoning_content) {
          if (first === null) first = performance.now();
          chunks++;
        }
        if (delta.content) reply.content += delta.content;
        if (delta.reasoning_content) reply.reasoning += delta.reasoning_content;
        schedule();
      },
      done() {
        // A cancelled reply ends with [DONE] and no finish chunk; so does a stop we asked for.
        finish(stopRequested ? 'stopped' : 'done');
      },
      fail(message) { finish('error', message); },
    });
  }

  function flash(message) {
    socketNote.textContent = message;
    socketNote.style.color = 'var(--err)';
  }

  const unsubscribe = status.subscribe((s) => {
    if (!generating && messages.querySelector('.empty-chat')) renderMessages();
    if (s.state !== 'ready' && !generating) {
      socketNote.textContent = s.state === 'failed' ? (s.message || 'The cluster failed.') : `The cluster is ${s.state}: ${s.message || ''}`;
    } else if (socketNote.textContent.startsWith('The cluster is')) {
      socketNote.textContent = '';
    }
  });

  renderList();
  renderMessages();
  input.focus();

  return () => {
    unsubscribe();
    document.removeEventListener('keydown', onKey);
    socket.close();
    root.style.overflow = '';
    // A reply still streaming is lost with its socket; keep what arrived and say so.
    if (generating) {
      generating.state = 'stopped';
      persist();
    }
  };
}
