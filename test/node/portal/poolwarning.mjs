// Signs in and opens a pool's page directly; prints {"warning": "..."} once
// the page shows the identity-mismatch warning, with a screenshot.
// Input (stdin, JSON): portal, username, password, accountId, pool, artifacts, prefix.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const input = JSON.parse(fs.readFileSync(0, 'utf8'));
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'cobalt-chromium-'));

async function main() {
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 },
  });
  try {
    const page = context.pages()[0] || await context.newPage();
    page.setDefaultTimeout(30000);
    await page.goto(input.portal);
    await page.getByLabel('Username').fill(input.username);
    await page.getByLabel('Password').fill(input.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText(input.username).waitFor();
    await page.goto(`${input.portal}#/account${input.accountId}/pools/${encodeURIComponent(input.pool)}`);
    const warning = page.getByRole('status').filter({ hasText: 'zero' });
    await warning.waitFor();
    await page.screenshot({ path: path.join(input.artifacts, `${input.prefix}-pool-warning.png`), fullPage: true });
    return { warning: await warning.textContent() };
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().then((out) => process.stdout.write(JSON.stringify(out)), (err) => {
  process.stderr.write(`${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
