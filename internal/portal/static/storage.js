// Storage accounts -> containers -> blobs: browse, upload, download, with
// the user's own data roles.
import { ARM_RESOURCES, armList, blobCall } from './api.js';
import { alertBox, field, h, parseId, table } from './dom.js';

const enc = encodeURIComponent;

function xml(text) { return new DOMParser().parseFromString(text, 'application/xml'); }

export async function storageAccounts(show) {
  const status = h('p', { class: 'muted', text: 'Loading…' });
  show('Storage accounts', h('h1', { text: 'Storage accounts' }), status);
  try {
    const rows = [];
    for (const s of await armList('/subscriptions', ARM_RESOURCES)) {
      const list = await armList(`/subscriptions/${s.subscriptionId}/resources`, ARM_RESOURCES,
        `&$filter=${encodeURIComponent("resourceType eq 'Microsoft.Storage/storageAccounts'")}`);
      for (const a of list) rows.push([h('a', { href: `#/storage${a.id}`, text: a.name }), parseId(a.id).resourceGroup, a.location]);
    }
    status.replaceWith(rows.length ? table(['Name', 'Resource group', 'Location'], rows) : h('p', { text: 'No storage accounts to display.' }));
  } catch (e) { status.replaceWith(alertBox(e)); }
}

export async function containers(show, id) {
  const status = h('p', { class: 'muted', text: 'Loading…' });
  show(`Containers - ${parseId(id).name}`, h('h1', { text: `${parseId(id).name} | Containers` }), status);
  try {
    const doc = xml(await (await blobCall('GET', id, '?comp=list')).text());
    const rows = [...doc.querySelectorAll('Container > Name')].map((n) => [h('a', { href: `#/storage${id}/containers/${enc(n.textContent)}`, text: n.textContent })]);
    status.replaceWith(rows.length ? table(['Container'], rows) : h('p', { text: 'No containers.' }));
  } catch (e) { status.replaceWith(alertBox(e)); }
}

export async function blobs(show, id, container) {
  let status = h('p', { class: 'muted', text: 'Loading…' });
  const errors = h('div', { 'aria-live': 'polite' });
  const file = h('input', { type: 'file' });
  const form = h('form', { class: 'blade', 'aria-label': 'Upload blob' }, h('h2', { text: 'Upload blob' }), field('File', file),
    h('button', { type: 'submit', class: 'primary' }, 'Upload'));
  show(`${container} - ${parseId(id).name}`, h('h1', { text: `${parseId(id).name} | ${container}` }), errors, status, form);
  const load = async () => {
    try {
      const doc = xml(await (await blobCall('GET', id, `${enc(container)}?restype=container&comp=list`)).text());
      const rows = [...doc.querySelectorAll('Blob')].map((b) => {
        const name = b.querySelector('Name').textContent;
        const size = b.querySelector('Properties > Content-Length')?.textContent || '';
        const dl = h('button', { type: 'button', 'aria-label': `Download ${name}` }, 'Download');
        dl.addEventListener('click', async () => {
          try {
            const data = await (await blobCall('GET', id, `${enc(container)}/${name.split('/').map(enc).join('/')}`)).blob();
            const a = h('a', { href: URL.createObjectURL(data), download: name.split('/').pop() });
            document.body.append(a);
            a.click();
            a.remove();
          } catch (e) { errors.replaceChildren(alertBox(e)); }
        });
        return [name, size, dl];
      });
      const t = rows.length ? table(['Name', 'Size (bytes)', 'Download'], rows) : h('p', { text: 'No blobs.' });
      status.replaceWith(t);
      status = t;
    } catch (e) { const a = alertBox(e); status.replaceWith(a); status = a; }
  };
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    errors.replaceChildren();
    const f = file.files[0];
    if (!f) return;
    try {
      await blobCall('PUT', id, `${enc(container)}/${enc(f.name)}`, f,
        { 'x-ms-blob-type': 'BlockBlob', 'Content-Type': f.type || 'application/octet-stream' });
      errors.append(h('div', { class: 'ok', role: 'status', text: `Uploaded ${f.name}.` }));
      load();
    } catch (e) { errors.append(alertBox(e)); }
  });
  load();
}
