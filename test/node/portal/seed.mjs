// Drives the portal in Debian's Chromium (headless, through playwright-core)
// along the seed's portal steps, by visible labels only, and prints JSON:
// {"created": true} when the pool page shows an idle node, or {"alert": "..."}
// with the error the form shows. Input (stdin, JSON): portal, username,
// password, account, identity, pool, expect ("created" or "alert"),
// artifacts (screenshot directory), prefix (screenshot name prefix), width, height.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const input = JSON.parse(fs.readFileSync(0, 'utf8'));
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'cobalt-chromium-'));
let step = 0;

async function shot(page, name) {
  step += 1;
  const file = path.join(input.artifacts, `${input.prefix}-${String(step).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
}

async function main() {
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    // The installation's CA is not in Chromium's store; every address is loopback.
    ignoreHTTPSErrors: true,
    viewport: { width: input.width || 1280, height: input.height || 800 },
  });
  try {
    const page = context.pages()[0] || await context.newPage();
    page.setDefaultTimeout(30000);

    // 1. Sign in.
    await page.goto(input.portal);
    await page.getByLabel('Username').fill(input.username);
    await page.getByLabel('Password').fill(input.password);
    await shot(page, 'sign-in');
    await page.getByRole('button', { name: 'Sign in' }).click();

    // 2. The search bar offers the Batch accounts page (once the portal
    // shows who is signed in).
    await page.getByText(input.username).waitFor();
    const search = page.getByRole('combobox', { name: 'Search resources, services, and docs' });
    await search.fill('Batch accounts');
    await page.getByRole('option', { name: 'Batch accounts' }).waitFor();
    await shot(page, 'search');
    await search.press('Enter');

    // 3. The Batch accounts list; the account.
    await page.getByRole('heading', { name: 'Batch accounts' }).waitFor();
    await page.getByRole('link', { name: input.account, exact: true }).click();
    await shot(page, 'account');

    // 4. Features > Pools; Add.
    await page.getByRole('navigation', { name: 'Batch account' }).getByRole('link', { name: 'Pools' }).click();
    await page.getByRole('button', { name: 'Add', exact: true }).click();

    // 5. Pool ID.
    await page.getByLabel('Pool ID').fill(input.pool);

    // 6-8. Identity: User assigned; under User assigned managed identity, Add,
    // pick the identity, Add.
    await page.getByRole('group', { name: 'Identity', exact: true }).getByLabel('User assigned').check();
    await page.getByRole('group', { name: 'User assigned managed identity' }).getByRole('button', { name: 'Add' }).click();
    const dialog = page.getByRole('dialog', { name: 'Add user assigned managed identity' });
    await dialog.getByLabel(input.identity, { exact: true }).check();
    await shot(page, 'identity-picker');
    await dialog.getByRole('button', { name: 'Add', exact: true }).click();
    await page.getByRole('list', { name: 'Selected identities' }).getByText(input.identity).waitFor();

    // 9. Operating System, node size, scale.
    await page.getByLabel('Publisher').selectOption('canonical');
    await page.getByLabel('Offer').selectOption('ubuntu-24_04-lts');
    await page.getByLabel('Sku').selectOption('server');
    await page.getByLabel('Node size').selectOption('Standard_D2s_v3');
    await page.getByRole('group', { name: 'Scale' }).getByLabel('Fixed').check();
    await page.getByLabel('Target dedicated nodes').fill('1');

    // 10. Container configuration stays None; Start task enabled.
    await page.getByRole('group', { name: 'Container configuration' }).getByLabel('None').check();
    await page.getByRole('group', { name: 'Start task' }).getByLabel('Enabled').check();
    await page.getByLabel('Command line').fill('/bin/sh -c "echo started"');
    await shot(page, 'add-pool');

    // 11. OK sends the PUT.
    await page.getByRole('button', { name: 'OK', exact: true }).click();
    if (input.expect === 'alert') {
      const alert = page.getByRole('alert');
      await alert.waitFor();
      await shot(page, 'refused');
      return { alert: await alert.textContent() };
    }
    // The pool page updates by itself until the node is idle.
    await page.getByRole('heading', { name: 'Nodes' }).waitFor();
    await page.getByRole('cell', { name: 'idle', exact: true }).waitFor({ timeout: 120000 });
    await page.getByRole('list', { name: 'Node states heat map' }).getByRole('listitem').first().waitFor();
    await shot(page, 'pool');
    const identities = await page.getByRole('table').getByRole('cell', { name: input.identity }).count();
    const out = { created: true, nodeIdentityCells: identities };
    if (!input.job) return out;

    // Beyond the seed: a job on the pool, a task, its stdout.
    await page.getByRole('navigation', { name: 'Batch account' }).getByRole('link', { name: 'Jobs' }).click();
    await page.getByLabel('Job ID').fill(input.job);
    await page.getByLabel('Pool', { exact: true }).selectOption(input.pool);
    await page.getByRole('button', { name: 'OK', exact: true }).click();
    await page.getByRole('heading', { name: 'Tasks' }).waitFor();
    await page.getByLabel('Task ID').fill('hello');
    await page.getByLabel('Command line').fill('/bin/sh -c "echo hello from the portal"');
    await page.getByRole('button', { name: 'Add task' }).click();
    await page.getByRole('cell', { name: 'completed', exact: true }).waitFor({ timeout: 60000 });
    await shot(page, 'job');
    await page.getByRole('link', { name: 'hello', exact: true }).click();
    const stdout = page.getByLabel('stdout', { exact: true });
    await stdout.getByText('hello from the portal').waitFor();
    await shot(page, 'task');
    out.stdout = await stdout.textContent();

    // Access control (IAM): the user sees its inherited Contributor role, and
    // ARM refuses it a role assignment with its own message.
    await page.getByRole('navigation', { name: 'Batch account' }).getByRole('link', { name: 'Access control (IAM)' }).click();
    await page.getByRole('cell', { name: 'Contributor', exact: true }).first().waitFor();
    await page.getByLabel('Role', { exact: true }).selectOption({ label: 'Reader' });
    await page.getByLabel('Assignee object ID').fill(input.objectId);
    await page.getByRole('button', { name: 'Review + assign' }).click();
    const refused = page.getByRole('alert');
    await refused.waitFor();
    await shot(page, 'access-control');
    out.roleAssignmentAlert = await refused.textContent();
    return out;
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().then(
  (out) => process.stdout.write(JSON.stringify(out)),
  (err) => {
    process.stderr.write(`${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
  },
);
