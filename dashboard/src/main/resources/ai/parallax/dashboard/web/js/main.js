// Entry point: theme, connection state, and a hash router over the four pages.
import { startPolling, onConnection, status } from './store.js';
import { setupPage } from './setup.js';
import { joinPage } from './join.js';
import { chatPage } from './chat.js';
import { clusterPage } from './cluster.js';

const pages = { setup: setupPage, join: joinPage, chat: chatPage, cluster: clusterPage };
const main = document.getElementById('main');
let teardown = null;

function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
}
const savedTheme = localStorage.getItem('parallax.theme');
applyTheme(savedTheme || (matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light'));
document.getElementById('theme').addEventListener('click', () => {
  const next = document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark';
  localStorage.setItem('parallax.theme', next);
  applyTheme(next);
  window.dispatchEvent(new Event('themechange'));
});

const conn = document.getElementById('conn');
const banner = document.getElementById('banner');
let bannerTimer = null;
onConnection(({ up, recovered, error, retryIn }) => {
  clearTimeout(bannerTimer);
  if (up) {
    const state = status.value?.state;
    conn.className = 'conn ' + (state === 'failed' ? 'bad' : state === 'ready' ? 'ok' : 'warn');
    conn.querySelector('.conn-text').textContent = state === 'ready' ? 'Ready' : state ? capitalize(state) : 'Connected';
    if (recovered) {
      banner.className = 'banner ok';
      banner.textContent = 'Reconnected to the server.';
      banner.hidden = false;
      bannerTimer = setTimeout(() => { banner.hidden = true; }, 3000);
    } else if (state === 'failed') {
      banner.className = 'banner';
      banner.textContent = status.value.message || 'The cluster failed.';
      banner.hidden = false;
    } else if (recentFailure(status.value)) {
      // A node died or a step failed: say so while the cluster recovers, and for a while after.
      const failure = recentFailure(status.value);
      banner.className = 'banner warn';
      banner.textContent = `Node failure: ${failure.message}. `
        + (state === 'ready' ? 'The cluster has recovered.' : `The cluster is ${state}: ${status.value.message || ''}`);
      banner.hidden = false;
    } else {
      banner.hidden = true;
    }
  } else {
    conn.className = 'conn bad';
    conn.querySelector('.conn-text').textContent = 'Offline';
    banner.className = 'banner';
    banner.textContent = `Lost connection to the server: ${error.message} Retrying in ${Math.round(retryIn / 1000)} s…`;
    banner.hidden = false;
  }
});

/** The newest failure event of the last minute, or null. */
function recentFailure(s) {
  const failures = (s?.events || []).filter((e) => e.kind === 'failure');
  const last = failures[failures.length - 1];
  return last && s.timeMillis - last.timeMillis < 60000 ? last : null;
}

function capitalize(s) { return s.charAt(0).toUpperCase() + s.slice(1); }

function route() {
  const name = (location.hash.replace(/^#\/?/, '').split('/')[0]) || 'chat';
  const page = pages[name] ? name : 'chat';
  if (teardown) teardown();
  main.replaceChildren();
  for (const link of document.querySelectorAll('.tabs a')) {
    if (link.dataset.page === page) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.title = `${capitalize(page)} · Parallax`;
  teardown = pages[page](main) || null;
  main.dataset.page = page;
}

window.addEventListener('hashchange', route);
// The libraries load with `defer`, so they are ready by the time this module runs.
startPolling();
if (!location.hash) {
  // A fresh cluster starts at setup; one already serving opens the chat.
  const off = status.subscribe((s) => {
    off();
    if (!location.hash) location.hash = s.state === 'setup' ? '#/setup' : '#/chat';
  });
}
route();
