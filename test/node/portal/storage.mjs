// Signs in, finds the storage account through the search bar, opens the
// container, uploads a file and reads the blob list back. Prints
// {"blobs": [...names]}. Input (stdin, JSON): portal, username, password,
// storage, container, upload (file name), artifacts, prefix.
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
    const search = page.getByRole('combobox', { name: 'Search resources, services, and docs' });
    await search.fill('Storage');
    await page.getByRole('option', { name: 'Storage accounts' }).click();
    await page.getByRole('link', { name: input.storage, exact: true }).click();
    await page.getByRole('link', { name: input.container, exact: true }).click();
    await page.getByLabel('File').setInputFiles({ name: input.upload, mimeType: 'text/plain', buffer: Buffer.from('uploaded from the portal') });
    await page.getByRole('button', { name: 'Upload' }).click();
    await page.getByRole('cell', { name: input.upload, exact: true }).waitFor();
    await page.screenshot({ path: path.join(input.artifacts, `${input.prefix}-storage.png`), fullPage: true });
    const names = await page.getByRole('table').locator('tbody tr td:first-child').allTextContents();
    return { blobs: names };
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().then((out) => process.stdout.write(JSON.stringify(out)), (err) => {
  process.stderr.write(`${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
