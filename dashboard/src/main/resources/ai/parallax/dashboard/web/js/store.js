// The cluster status, polled once a second and shared by every page; pages subscribe to changes.
import { json } from './util.js';

const listeners = new Set();
let current = null;
let failures = 0;
let timer = null;

export const status = {
  get value() { return current; },
  get connected() { return failures === 0 && current !== null; },
  subscribe(fn) {
    listeners.add(fn);
    if (current) fn(current);
    return () => listeners.delete(fn);
  },
  refresh: poll,
};

const connectionListeners = new Set();
export function onConnection(fn) { connectionListeners.add(fn); }

async function poll() {
  clearTimeout(timer);
  try {
    current = await json('/cluster/status');
    const wasDown = failures > 0;
    failures = 0;
    for (const fn of connectionListeners) fn({ up: true, recovered: wasDown });
    for (const fn of listeners) fn(current);
    timer = setTimeout(poll, 1000);
  } catch (e) {
    failures++;
    // Back off up to 10 s so a stopped server is not hammered, and say when the next try comes.
    const delay = Math.min(10000, 1000 * 2 ** Math.min(failures - 1, 4));
    for (const fn of connectionListeners) fn({ up: false, error: e, retryIn: delay });
    timer = setTimeout(poll, delay);
  }
}

export function startPolling() { poll(); }
