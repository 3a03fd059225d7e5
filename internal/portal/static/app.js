// The portal's pages, routed by the location hash.
import { ARM_BATCH, ARM_MSI, ARM_RESOURCES, arm, armList, me } from './api.js';
import { alertBox, field, h, parseId, select, table } from './dom.js';
import { poolForm } from './poolform.js';
import { poolPage } from './poolpage.js';
import { jobPage, jobsPage, taskPage } from './jobs.js';
import { accessPage } from './access.js';
import { blobs, containers, storageAccounts } from './storage.js';

const main = document.getElementById('main');

// Services the search bar offers.
const services = [
  { name: 'Batch accounts', href: '#/batch' },
  { name: 'Managed Identities', href: '#/identities' },
  { name: 'Resource groups', href: '#/groups' },
  { name: 'Storage accounts', href: '#/storage' },
];

let stopPage = null; // stops the current page's timers

function show(title, ...content) {
  if (stopPage) { stopPage(); stopPage = null; }
  document.title = `${title} - Cobalt portal`;
  main.replaceChildren(...content);
  main.focus();
}

// onStop registers what ends when the page changes.
export function onStop(fn) { stopPage = fn; }

async function subscriptions() {
  return armList('/subscriptions', ARM_RESOURCES);
}

function accountLink(id, text) { return h('a', { href: `#/account${id}`, text }); }

async function home() {
  show('Home', h('h1', { text: 'Cobalt services' }),
    h('ul', {}, services.map((s) => h('li', {}, h('a', { href: s.href, text: s.name })))));
}

async function batchAccounts() {
  const status = h('p', { class: 'muted', text: 'Loading…' });
  show('Batch accounts', h('h1', { text: 'Batch accounts' }), status);
  try {
    const rows = [];
    for (const s of await subscriptions()) {
      // The generic list shows the accounts the user can read, also when
      // the user's rights are on single resource groups or accounts.
      for (const a of await armList(`/subscriptions/${s.subscriptionId}/resources`, ARM_RESOURCES,
        `&$filter=${encodeURIComponent("resourceType eq 'Microsoft.Batch/batchAccounts'")}`)) {
        const p = parseId(a.id);
        rows.push([accountLink(a.id, a.name), p.resourceGroup, a.location, s.displayName || s.subscriptionId]);
      }
    }
    status.replaceWith(rows.length ? table(['Name', 'Resource group', 'Location', 'Subscription'], rows)
      : h('p', { text: 'No Batch accounts to display.' }));
  } catch (e) { status.replaceWith(alertBox(e)); }
}

async function identities() {
  const status = h('p', { class: 'muted', text: 'Loading…' });
  const errors = h('div', { 'aria-live': 'polite' });
  const subSel = select([]);
  const rgSel = select([]);
  const name = h('input', { type: 'text', autocomplete: 'off' });
  const region = h('input', { type: 'text', value: 'eastus' });
  const form = h('form', { class: 'blade', 'aria-label': 'Create user assigned managed identity' },
    h('h2', { text: 'Create user assigned managed identity' }),
    field('Subscription', subSel), field('Resource group', rgSel), field('Region', region), field('Name', name),
    errors, h('button', { type: 'submit', class: 'primary' }, 'Create'));
  show('Managed Identities', h('h1', { text: 'Managed Identities' }), status, form);
  const loadGroups = async () => {
    try {
      const gs = await armList(`/subscriptions/${subSel.value}/resourcegroups`, ARM_RESOURCES);
      rgSel.replaceChildren(...gs.map((g) => h('option', { value: g.name, text: g.name })));
    } catch (e) { errors.replaceChildren(alertBox(e)); }
  };
  subSel.addEventListener('change', loadGroups);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    errors.replaceChildren();
    try {
      await arm('PUT', `/subscriptions/${subSel.value}/resourceGroups/${encodeURIComponent(rgSel.value)}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${encodeURIComponent(name.value.trim())}`,
        ARM_MSI, { location: region.value.trim() });
      identities();
    } catch (e) { errors.append(alertBox(e)); }
  });
  try {
    const rows = [];
    const subs = await subscriptions();
    subSel.replaceChildren(...subs.map((s) => h('option', { value: s.subscriptionId, text: s.displayName || s.subscriptionId })));
    loadGroups();
    for (const s of subs) {
      const list = await armList(`/subscriptions/${s.subscriptionId}/resources`, ARM_RESOURCES,
        `&$filter=${encodeURIComponent("resourceType eq 'Microsoft.ManagedIdentity/userAssignedIdentities'")}`);
      for (const i of list) {
        rows.push([i.name, parseId(i.id).resourceGroup, i.location, s.displayName || s.subscriptionId,
          h('a', { href: `#/access${i.id}`, 'aria-label': `Access control of ${i.name}`, text: 'Access control' })]);
      }
    }
    status.replaceWith(rows.length ? table(['Name', 'Resource group', 'Location', 'Subscription', 'Access'], rows) : h('p', { text: 'No identities to display.' }));
  } catch (e) { status.replaceWith(alertBox(e)); }
}

async function groups() {
  const status = h('p', { class: 'muted', text: 'Loading…' });
  show('Resource groups', h('h1', { text: 'Resource groups' }), status);
  try {
    const rows = [];
    for (const s of await subscriptions()) {
      for (const g of await armList(`/subscriptions/${s.subscriptionId}/resourcegroups`, ARM_RESOURCES)) {
        rows.push([g.name, g.location, s.displayName || s.subscriptionId,
          h('a', { href: `#/access${g.id}`, 'aria-label': `Access control of ${g.name}`, text: 'Access control' })]);
      }
    }
    status.replaceWith(table(['Name', 'Location', 'Subscription', 'Access'], rows));
  } catch (e) { status.replaceWith(alertBox(e)); }
}

// accountShell is an account page: the menu (Overview; Features: Pools)
// and the section's content.
function accountShell(id, section, title, ...content) {
  const link = (href, text, key) => h('a', { href, text, 'aria-current': section === key ? 'page' : null });
  const name = parseId(id).name;
  show(`${title} - ${name}`, h('h1', { text: `${name} | ${title}` }),
    h('div', { class: 'layout' },
      h('nav', { class: 'menu', 'aria-label': 'Batch account' },
        link(`#/account${id}`, 'Overview', 'overview'),
        h('h2', { text: 'Features' }),
        link(`#/account${id}/pools`, 'Pools', 'pools'),
        link(`#/account${id}/jobs`, 'Jobs', 'jobs'),
        h('h2', { text: 'Settings' }),
        link(`#/account${id}/access`, 'Access control (IAM)', 'access')),
      h('div', { class: 'content' }, content)));
}

async function accountOverview(id) {
  const dl = h('dl', { class: 'props' });
  accountShell(id, 'overview', 'Overview', dl);
  try {
    const a = await arm('GET', id, ARM_BATCH);
    const p = parseId(id);
    for (const [k, v] of [['Resource group', p.resourceGroup], ['Location', a.location], ['Subscription', p.subscription],
      ['Account endpoint', a.properties.accountEndpoint], ['Provisioning state', a.properties.provisioningState]]) {
      dl.append(h('dt', { text: k }), h('dd', { text: v || '' }));
    }
  } catch (e) { dl.replaceWith(alertBox(e)); }
}

async function pools(id) {
  const status = h('p', { class: 'muted', text: 'Loading…' });
  accountShell(id, 'pools', 'Pools',
    h('div', { class: 'toolbar' }, h('button', { type: 'button', onclick: () => { location.hash = `#/account${id}/pools/add`; } }, 'Add')),
    status);
  try {
    const list = await armList(`${id}/pools`, ARM_BATCH);
    const rows = list.map((p) => [h('a', { href: `#/account${id}/pools/${encodeURIComponent(p.name)}`, text: p.name }),
      p.properties.allocationState || '', String(p.properties.currentDedicatedNodes ?? 0), p.properties.vmSize || '']);
    status.replaceWith(rows.length ? table(['Pool ID', 'Allocation state', 'Dedicated nodes', 'Node size'], rows)
      : h('p', { text: 'No pools to display.' }));
  } catch (e) { status.replaceWith(alertBox(e)); }
}

function route() {
  const hash = decodeURI(location.hash.slice(1) || '/');
  let m;
  if (hash === '/') return home();
  if (hash === '/batch') return batchAccounts();
  if (hash === '/identities') return identities();
  if (hash === '/groups') return groups();
  if (hash === '/storage') return storageAccounts(show);
  if ((m = hash.match(/^\/storage(\/subscriptions\/[^#]+?\/storageAccounts\/[^/]+)(?:\/containers\/([^/]+))?$/i))) {
    return m[2] ? blobs(show, m[1], decodeURIComponent(m[2])) : containers(show, m[1]);
  }
  if ((m = hash.match(/^\/access(\/subscriptions\/.+)$/))) {
    const scope = m[1];
    return accessPage(scope, (...c) => show('Access control (IAM)', h('h1', { text: 'Access control (IAM)' }),
      h('p', { class: 'muted', text: scope }), ...c));
  }
  if ((m = hash.match(/^\/account(\/subscriptions\/[^#]+?\/batchAccounts\/[^/]+)(\/.*)?$/i))) {
    const id = m[1];
    const rest = m[2] || '';
    if (rest === '') return accountOverview(id);
    if (rest === '/pools') return pools(id);
    if (rest === '/pools/add') {
      show('New pool');
      return poolForm(main, id, accountShell);
    }
    if (rest === '/jobs') return jobsPage(id, accountShell);
    if (rest === '/access') return accessPage(id, (...c) => accountShell(id, 'access', 'Access control (IAM)', ...c));
    let jm = rest.match(/^\/jobs\/([^/]+)$/);
    if (jm) { show('Job'); return jobPage(id, decodeURIComponent(jm[1]), accountShell, onStop); }
    jm = rest.match(/^\/jobs\/([^/]+)\/tasks\/([^/]+)$/);
    if (jm) { show('Task'); return taskPage(id, decodeURIComponent(jm[1]), decodeURIComponent(jm[2]), accountShell); }
    const pm = rest.match(/^\/pools\/([^/]+)$/);
    if (pm) {
      show('Pool');
      return poolPage(main, id, decodeURIComponent(pm[1]), accountShell, onStop);
    }
  }
  show('Not found', h('h1', { text: 'Not found' }), h('p', {}, h('a', { href: '#/', text: 'Home' })));
  return undefined;
}

// The search bar: typing offers matching services in a listbox, operable
// with the arrow keys and Enter.
function setupSearch() {
  const input = document.getElementById('search');
  const list = document.getElementById('search-results');
  let active = -1;
  const options = () => [...list.querySelectorAll('[role=option]')];
  const close = () => { list.hidden = true; input.setAttribute('aria-expanded', 'false'); active = -1; input.removeAttribute('aria-activedescendant'); };
  const go = (href) => { close(); input.value = ''; location.hash = href; };
  const mark = (i) => {
    const opts = options();
    opts.forEach((o, j) => o.setAttribute('aria-selected', String(j === i)));
    active = i;
    if (opts[i]) input.setAttribute('aria-activedescendant', opts[i].id);
  };
  input.addEventListener('input', () => {
    const q = input.value.trim().toLowerCase();
    list.replaceChildren();
    if (!q) return close();
    const hits = services.filter((s) => s.name.toLowerCase().includes(q));
    hits.forEach((s, i) => list.append(h('li', { role: 'option', id: `search-opt-${i}`, 'aria-selected': 'false',
      onclick: () => go(s.href) }, s.name)));
    if (!hits.length) list.append(h('li', { role: 'option', 'aria-disabled': 'true', text: 'No results' }));
    list.hidden = false;
    input.setAttribute('aria-expanded', 'true');
  });
  input.addEventListener('keydown', (ev) => {
    const opts = options();
    if (ev.key === 'ArrowDown') { ev.preventDefault(); mark(Math.min(active + 1, opts.length - 1)); }
    else if (ev.key === 'ArrowUp') { ev.preventDefault(); mark(Math.max(active - 1, 0)); }
    else if (ev.key === 'Escape') close();
    else if (ev.key === 'Enter') {
      const pick = opts[active >= 0 ? active : 0];
      const s = pick && services.find((x) => x.name === pick.textContent);
      if (s) { ev.preventDefault(); go(s.href); }
    }
  });
  // Typing may have begun before this module ran.
  if (input.value) input.dispatchEvent(new Event('input'));
  document.addEventListener('keydown', (ev) => {
    if (ev.key === '/' && document.activeElement === document.body) { ev.preventDefault(); input.focus(); }
  });
}

async function start() {
  setupSearch();
  try {
    const u = await me();
    document.getElementById('me').textContent = u.userPrincipalName;
  } catch { /* api() sends the browser to sign in */ }
  window.addEventListener('hashchange', route);
  route();
}

start();
