// Drives the dashboard of a server started with --api-key, for DashboardApiKeyBrowserTest: the page must ask for
// the key once (refusing a wrong one), then work (status, chat over the WebSocket) on the session cookie alone.
//
// Environment: BASE_URL, CHROMIUM, SCREENSHOTS, RESULT, API_KEY, PROMPT, MAX_TOKENS.
import { chromium } from 'playwright-core';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const base = process.env.BASE_URL;
const shots = process.env.SCREENSHOTS;
mkdirSync(shots, { recursive: true });
const result = { requests: [], consoleErrors: [] };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 820 }, colorScheme: 'light' });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  page.on('request', (r) => result.requests.push(r.url()));
  page.on('pageerror', (e) => result.consoleErrors.push(String(e)));

  await page.goto(`${base}/`);
  await page.waitForSelector('#api-key-dialog[open]');
  await page.screenshot({ path: join(shots, 'api-key.png') });
  await page.fill('#api-key', 'not-the-key');
  await page.click('#api-key-submit');
  await page.waitForSelector('#api-key-dialog .alert.err:not([hidden])');
  result.wrongKeyMessage = await page.textContent('#api-key-dialog .alert.err');
  await page.fill('#api-key', process.env.API_KEY);
  await page.click('#api-key-submit');
  await page.waitForSelector('#api-key-dialog', { state: 'detached' });
  await page.waitForFunction(() => document.querySelector('#conn .conn-text').textContent === 'Ready');
  result.documentCookie = await page.evaluate(() => document.cookie);
  result.cookies = (await context.cookies()).map((c) => ({ name: c.name, httpOnly: c.httpOnly, sameSite: c.sameSite }));

  await page.click('.tabs a[data-page="chat"]');
  await page.click('#settings summary');
  await page.fill('#temperature', '0');
  await page.fill('#max-tokens', process.env.MAX_TOKENS);
  await page.fill('#top-p', '1');
  await page.locator('#top-p').blur();
  await page.click('#new-chat');
  await page.fill('#prompt', process.env.PROMPT);
  await page.keyboard.press('Enter');
  await page.waitForSelector('.message.assistant[data-state="done"]', { timeout: 30000 });
  result.reply = await page.evaluate(() => {
    const conversations = JSON.parse(localStorage.getItem('parallax.conversations'));
    const active = conversations.find((c) => c.id === localStorage.getItem('parallax.activeConversation'));
    return active.messages[active.messages.length - 1].content;
  });
  // A reload keeps the session: no second prompt.
  await page.reload();
  await page.waitForFunction(() => document.querySelector('#conn .conn-text').textContent === 'Ready');
  result.promptAfterReload = await page.$('#api-key-dialog') !== null;
  await page.screenshot({ path: join(shots, 'api-key-unlocked.png') });
  await context.close();
} catch (e) {
  result.error = String(e.stack || e);
} finally {
  await browser.close();
  writeFileSync(process.env.RESULT, JSON.stringify(result, null, 2));
}
