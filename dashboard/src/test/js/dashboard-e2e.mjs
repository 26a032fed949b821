// Drives the dashboard in headless chromium for DashboardBrowserTest: setup, join, chat (a full greedy reply and
// a stopped one), cluster. It records what the page showed and every URL it requested into a JSON file; the Java
// test makes the assertions. Screenshots go to SCREENSHOTS.
//
// Environment: BASE_URL (http://127.0.0.1:port), CHROMIUM (the browser binary), SCREENSHOTS (a folder),
// RESULT (the JSON file to write), PROMPT and MAX_TOKENS (the greedy chat), STOP_PROMPT and STOP_MAX_TOKENS (the
// reply to stop), NODES (how many nodes setup asks for and the join page waits to see ready; default 1),
// FAILURE_SIGNAL (optional: a file this script writes at the end, when the test may kill a node; the page must then
// show the failure).
import { chromium } from 'playwright-core';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const base = process.env.BASE_URL;
const shots = process.env.SCREENSHOTS;
const prompt = process.env.PROMPT;
const maxTokens = process.env.MAX_TOKENS;
const stopPrompt = process.env.STOP_PROMPT;
const nodes = Number(process.env.NODES || '1');
mkdirSync(shots, { recursive: true });

const result = { requests: [], websockets: [], consoleErrors: [], failedRequests: [], steps: [] };
const step = (name) => { result.steps.push({ name, atMillis: Date.now() }); };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM,
  // --headless is added by playwright; these keep chromium off the network beyond the page's own requests.
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 820 }, colorScheme: 'light' });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  page.on('request', (r) => result.requests.push(r.url()));
  page.on('websocket', (ws) => result.websockets.push(ws.url()));
  page.on('requestfailed', (r) => result.failedRequests.push(`${r.url()}: ${r.failure()?.errorText}`));
  page.on('response', (r) => { if (r.status() >= 400) result.failedRequests.push(`${r.url()}: HTTP ${r.status()}`); });
  page.on('console', (m) => { if (m.type() === 'error') result.consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => result.consoleErrors.push(String(e)));

  // 1. Setup: the root redirects into the dashboard; pick the served model, one node, LAN.
  await page.goto(`${base}/`);
  await page.waitForURL(/\/dashboard\/#\/(chat|setup)/);
  await page.click('.tabs a[data-page="setup"]');
  await page.waitForSelector('.model-option input:checked');
  result.setupModels = await page.$$eval('.model-option .model-name', (els) => els.map((e) => e.textContent));
  await page.check(`input[name="model"][value="${process.env.MODEL_ID}"]`);
  await page.fill('#nodes', String(nodes));
  await page.check('input[name="network"][value="lan"]', { force: true });
  await page.waitForSelector('#capacity .alert');
  await page.screenshot({ path: join(shots, 'setup.png'), fullPage: true });
  await page.click('#continue');
  await page.waitForURL(/#\/join$/);
  step('setup');

  // 2. Join: the join command shows; the nodes come in, are listed ready, and the layer bar covers every layer.
  await page.waitForFunction(() => document.querySelector('#join-command').textContent.startsWith('parallax join'),
    null, { timeout: 30000 });
  result.joinBefore = await page.$$eval('table.nodes tr[data-node]', (rows) => rows.length);
  await page.screenshot({ path: join(shots, 'join-waiting.png'), fullPage: true });
  const allReady = (n) => {
    const rows = [...document.querySelectorAll('table.nodes tr[data-node]')];
    return document.querySelector('#join-summary .badge')?.textContent === 'ready'
      && rows.length >= n && rows.every((tr) => tr.querySelector('.badge').textContent === 'ready')
      && document.querySelectorAll('.layer-bar .seg[data-node]').length >= n;
  };
  // The join page opens the chat by itself when the cluster turns ready while it is open; come back to look.
  await page.waitForFunction(`location.hash === '#/chat' || (${allReady})(${nodes})`, null, { timeout: 90000 });
  result.joinMovedToChat = await page.evaluate(() => location.hash === '#/chat');
  if (result.joinMovedToChat) {
    await page.click('.tabs a[data-page="join"]');
    await page.waitForFunction(allReady, nodes);
  }
  result.join = await page.evaluate(() => ({
    command: document.querySelector('#join-command').textContent,
    nodes: [...document.querySelectorAll('table.nodes tr[data-node]')].map((tr) => ({
      id: tr.dataset.node, state: tr.querySelector('.badge').textContent,
      progress: tr.querySelector('[role="progressbar"]').getAttribute('aria-valuenow') })),
    segments: [...document.querySelectorAll('.layer-bar .seg[data-node]')].map((s) => ({
      node: s.dataset.node, label: s.textContent, flex: s.style.flexGrow })),
  }));
  await page.screenshot({ path: join(shots, 'join.png'), fullPage: true });
  await page.click('#go-chat');
  await page.waitForURL(/#\/chat$/);
  step('join');

  // 3-4. Chat: greedy settings, one message, the streamed reply as stored and as shown.
  await page.click('#settings summary');
  await page.fill('#temperature', '0');
  await page.fill('#max-tokens', maxTokens);
  await page.fill('#top-p', '1');
  await page.locator('#top-p').blur();
  await page.click('#new-chat');
  await page.fill('#prompt', prompt);
  await page.keyboard.press('Enter');
  await page.waitForSelector('.message.assistant[data-state="done"]', { timeout: 30000 });
  result.chat = await page.evaluate(() => {
    const conversations = JSON.parse(localStorage.getItem('parallax.conversations'));
    const active = conversations.find((c) => c.id === localStorage.getItem('parallax.activeConversation'));
    const reply = active.messages[active.messages.length - 1];
    const view = document.querySelector('.message.assistant[data-state="done"]');
    return { stored: reply.content, shown: view.querySelector('.content').innerText, stats: reply.stats,
      meta: view.querySelector('.reply-meta')?.innerText, conversations: conversations.length };
  });
  await page.screenshot({ path: join(shots, 'chat.png') });
  step('chat');

  // 5. Stop a reply midway: a new chat, a long reply, Stop as soon as the first tokens show.
  await page.fill('#max-tokens', process.env.STOP_MAX_TOKENS);
  await page.locator('#max-tokens').blur();
  await page.click('#new-chat');
  await page.fill('#prompt', stopPrompt);
  await page.keyboard.press('Enter');
  // Click Stop from inside the page in the frame the first words show: a click from here takes longer than
  // stories260K needs for a whole reply.
  await page.evaluate(() => new Promise((resolve, reject) => {
    const deadline = Date.now() + 30000;
    const check = () => {
      const el = document.querySelector('.message.assistant[data-state="streaming"] .content');
      if (el && el.textContent.length > 0) { document.getElementById('stop').click(); resolve(); }
      else if (Date.now() > deadline) reject(new Error('no streamed words within 30 s'));
      else requestAnimationFrame(check);
    };
    check();
  }));
  await page.waitForSelector('.message.assistant:not([data-state="streaming"])', { timeout: 15000 });
  result.stopped = await page.evaluate(() => {
    const view = document.querySelector('.message.assistant');
    const conversations = JSON.parse(localStorage.getItem('parallax.conversations'));
    const reply = conversations[0].messages[1];
    return { state: view.dataset.state, content: reply.content, stats: reply.stats, meta: view.querySelector('.reply-meta')?.innerText };
  });
  await page.screenshot({ path: join(shots, 'chat-stopped.png') });
  step('stop');

  // 6. Cluster: the figures move when the server generates.
  await page.click('.tabs a[data-page="cluster"]');
  await page.waitForSelector('.node-cards [data-node] [data-figure="generated"]');
  const generated = () => page.$eval('[data-figure="generated"] .value', (e) => parseInt(e.textContent, 10));
  // The node's figures are sampled once a second: wait for a sample after the chats above.
  await page.waitForTimeout(1200);
  result.clusterBefore = await generated();
  await fetch(`${base}/v1/chat/completions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: process.env.MODEL_ID, messages: [{ role: 'user', content: 'Tell me a story' }], max_tokens: 32, temperature: 0 }),
  });
  await page.waitForFunction((before) => {
    const v = parseInt(document.querySelector('[data-figure="generated"] .value').textContent, 10);
    return v > before;
  }, result.clusterBefore, { timeout: 10000 });
  result.clusterAfter = await generated();
  await page.waitForTimeout(1100);
  result.chartPoints = await page.evaluate(() => document.querySelectorAll('[data-chart] canvas').length);
  result.events = await page.$$eval('#events li', (els) => els.map((e) => e.innerText));
  await page.screenshot({ path: join(shots, 'cluster.png'), fullPage: true });
  step('cluster');

  // Phone width and dark mode, for the eye.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.click('#theme');
  await page.click('.tabs a[data-page="chat"]');
  await page.waitForSelector('.message.assistant');
  await page.screenshot({ path: join(shots, 'chat-phone-dark.png') });
  await page.click('.tabs a[data-page="join"]');
  await page.waitForSelector('.layer-bar .seg[data-node]');
  await page.screenshot({ path: join(shots, 'join-phone-dark.png'), fullPage: true });

  // Rendering of rich replies: Markdown, code highlighting, LaTeX, a reasoning block, and model HTML kept as text.
  result.markdown = await page.evaluate(async () => {
    const { renderMarkdown, splitThinking } = await import('./js/markdown.js');
    const html = renderMarkdown('**bold** $e^{i\\pi}+1=0$ costs $5 and $10\n\n```java\nint x = 1;\n```\n\n<img src=x onerror=alert(1)>\n\n![pic](http://example.com/a.png)');
    return { html, think: splitThinking('<think>plan</think>\n\nanswer') };
  });
  await page.setViewportSize({ width: 1280, height: 820 });
  await page.evaluate(() => {
    const id = 'rendering-demo';
    const conversations = JSON.parse(localStorage.getItem('parallax.conversations'));
    conversations.unshift({ id, title: 'Rendering', created: Date.now(), messages: [
      { role: 'user', content: 'Show me Euler and a loop.' },
      { role: 'assistant', state: 'done', reasoning: 'The user wants a formula and some code.',
        content: '## Euler\n\nThe identity $e^{i\\pi} + 1 = 0$ links five constants:\n\n$$\\sum_{n=0}^{\\infty} \\frac{x^n}{n!} = e^x$$\n\n```python\nfor n in range(3):\n    print(n ** 2)  # squares\n```\n\n- one\n- two',
        stats: { tokens: 64, tokensPerSecond: 41.5, ttftMs: 87 } },
    ] });
    localStorage.setItem('parallax.conversations', JSON.stringify(conversations));
    localStorage.setItem('parallax.activeConversation', id);
  });
  await page.click('#theme');
  await page.click('.tabs a[data-page="cluster"]');
  await page.click('.tabs a[data-page="chat"]');
  await page.waitForSelector('.message.assistant .katex');
  await page.click('details.think summary');
  await page.screenshot({ path: join(shots, 'chat-rendering.png') });

  // A node failure, when the test kills a node: this script says when it looks (FAILURE_SIGNAL), the test kills the
  // node, and the page must say so plainly and show the node as left.
  if (process.env.FAILURE_SIGNAL) {
    await page.click('.tabs a[data-page="cluster"]');
    await page.waitForSelector('.node-cards [data-node]');
    writeFileSync(process.env.FAILURE_SIGNAL, 'looking');
    await page.waitForSelector('#banner.warn:not([hidden])', { timeout: 30000 });
    await page.waitForSelector('.node-cards .badge.left', { timeout: 30000 });
    result.failure = {
      banner: await page.textContent('#banner'),
      events: await page.$$eval('#events li', (els) => els.map((e) => e.innerText)),
    };
    await page.screenshot({ path: join(shots, 'cluster-node-failure.png'), fullPage: true });
  }
  await context.close();
} catch (e) {
  result.error = String(e.stack || e);
} finally {
  await browser.close();
  writeFileSync(process.env.RESULT, JSON.stringify(result, null, 2));
}
