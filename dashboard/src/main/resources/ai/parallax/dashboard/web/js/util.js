// Small shared pieces: DOM building, number formatting and JSON calls with readable errors.

/** Builds an element: h('div', {class: 'x', onclick: f}, child, 'text', …). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = value;
    else if (key === 'html') el.innerHTML = value;
    else if (key === 'style' && typeof value === 'object') Object.assign(el.style, value);
    else el.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export function bytes(n) {
  if (n === null || n === undefined) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v >= 100 || i === 0 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

export function count(n) {
  if (n === null || n === undefined) return '—';
  if (n >= 1e9) return `${(n / 1e9).toFixed(n >= 1e10 ? 0 : 1)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(n >= 1e7 ? 0 : 1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(n >= 1e4 ? 0 : 1)}K`;
  return String(n);
}

export function fixed(n, digits = 1) {
  return n === null || n === undefined || Number.isNaN(n) ? '—' : Number(n).toFixed(digits);
}

export function clock(millis) {
  return new Date(millis).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** The colour of node number i, stable across pages. */
export function nodeColor(i) {
  return `var(--node-${i % 8})`;
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

let keyPrompt = null;

/**
 * Asks for the server's API key (it was started with --api-key) in a modal dialog and trades it for a session
 * cookie at POST /dashboard/session; resolves once the server accepted it. The key itself is not kept: the
 * HttpOnly cookie is, so every later request, the status stream and the chat WebSocket carry it by themselves.
 */
export function askForApiKey() {
  if (keyPrompt) return keyPrompt;
  keyPrompt = new Promise((resolve) => {
    const input = h('input', { type: 'password', id: 'api-key', autocomplete: 'current-password', required: true });
    const error = h('p', { class: 'alert err', role: 'alert', hidden: true });
    const submit = h('button', { class: 'button primary', type: 'submit', id: 'api-key-submit' }, 'Unlock');
    const form = h('form', { class: 'stack' },
      h('h2', { style: { margin: 0 } }, 'API key'),
      h('p', { class: 'muted small', style: { margin: 0 } },
        'This server was started with --api-key. Enter the key once: this browser then keeps a session with the server.'),
      h('label', { class: 'field', for: 'api-key' }, 'Key', input),
      error,
      h('div', { class: 'row' }, h('span', { class: 'spacer' }), submit));
    const dialog = h('dialog', { class: 'card key-dialog', id: 'api-key-dialog', 'aria-label': 'API key' }, form);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      submit.disabled = true;
      try {
        const response = await fetch('/dashboard/session', {
          method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ key: input.value }),
        });
        if (response.ok) {
          dialog.close();
          dialog.remove();
          keyPrompt = null;
          resolve();
          return;
        }
        error.textContent = response.status === 401 ? 'That is not the key this server was started with.'
          : `The server answered ${response.status}.`;
      } catch {
        error.textContent = 'The server cannot be reached.';
      } finally {
        submit.disabled = false;
      }
      error.hidden = false;
      input.select();
    });
    // Escape would leave the page unusable behind the dialog; it stays until the key is right.
    dialog.addEventListener('cancel', (e) => e.preventDefault());
    document.body.append(dialog);
    dialog.showModal();
    input.focus();
  });
  return keyPrompt;
}

/**
 * Fetches JSON; a failed call throws an ApiError carrying the server's own message. A 401 (the server has an API
 * key and this browser no session yet) asks for the key, then retries once.
 */
export async function json(path, options = {}, retried = false) {
  let response;
  try {
    response = await fetch(path, {
      ...options,
      headers: { 'Content-Type': 'application/json', ...(options.headers || {}) },
    });
  } catch (e) {
    throw new ApiError(0, 'The server cannot be reached. Is parallax serve still running?');
  }
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { /* not JSON: reported below */ }
  if (response.status === 401 && !retried) {
    await askForApiKey();
    return json(path, options, true);
  }
  if (!response.ok) {
    const message = body?.error?.message || `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, message);
  }
  if (body === null && text) throw new ApiError(response.status, 'The server answered something that is not JSON.');
  return body;
}

export async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // The async clipboard needs a secure context; plain http on a LAN address falls back to a selection copy.
    const area = h('textarea', { style: { position: 'fixed', opacity: '0' } }, text);
    document.body.append(area);
    area.select();
    document.execCommand('copy');
    area.remove();
  }
  if (button) {
    const label = button.textContent;
    button.textContent = 'Copied';
    setTimeout(() => { button.textContent = label; }, 1500);
  }
}
