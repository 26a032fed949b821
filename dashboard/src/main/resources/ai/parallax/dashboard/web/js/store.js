// The cluster status, shared by every page; pages subscribe to changes. It arrives over the server-sent event stream
// /cluster/status/stream (one status a second). When the stream breaks, a plain GET /cluster/status finds out why
// (the server is down, a 401, a 503) and reports it, backing off up to 10 s, and the stream reopens once it answers.
import { json } from './util.js';

const listeners = new Set();
let current = null;
let failures = 0;
let timer = null;
let source = null;

export const status = {
  get value() { return current; },
  get connected() { return failures === 0 && current !== null; },
  subscribe(fn) {
    listeners.add(fn);
    if (current) fn(current);
    return () => listeners.delete(fn);
  },
  /** Fetches the status now (after a change the page made), without waiting for the stream's next event. */
  async refresh() { accept(await json('/cluster/status')); },
};

const connectionListeners = new Set();
export function onConnection(fn) { connectionListeners.add(fn); }

function accept(next) {
  current = next;
  const wasDown = failures > 0;
  failures = 0;
  for (const fn of connectionListeners) fn({ up: true, recovered: wasDown });
  for (const fn of listeners) fn(current);
}

function openStream() {
  source = new EventSource('/cluster/status/stream');
  source.onmessage = (e) => {
    try { accept(JSON.parse(e.data)); } catch { /* a torn event: the next one comes in a second */ }
  };
  source.onerror = () => {
    // EventSource retries by itself but cannot say why it failed; a plain request can.
    source.close();
    source = null;
    poll();
  };
}

async function poll() {
  clearTimeout(timer);
  try {
    accept(await json('/cluster/status'));
    if (typeof EventSource === 'undefined') timer = setTimeout(poll, 1000);
    else if (!source) openStream();
  } catch (e) {
    failures++;
    // Back off up to 10 s so a stopped server is not hammered, and say when the next try comes.
    const delay = Math.min(10000, 1000 * 2 ** Math.min(failures - 1, 4));
    for (const fn of connectionListeners) fn({ up: false, error: e, retryIn: delay });
    timer = setTimeout(poll, delay);
  }
}

export function startPolling() { poll(); }
