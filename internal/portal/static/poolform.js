// The Add pool blade: the seed's steps, with its labels, ending in one ARM PUT.
import { ARM_BATCH, ARM_RESOURCES, arm, armList, batch } from './api.js';
import { alertBox, field, h, parseId, radios, select } from './dom.js';

const NODE_SIZES = ['Standard_D2s_v3', 'Standard_D4s_v3', 'Standard_A1_v2', 'Standard_A2_v2', 'Standard_D2_v3', 'Standard_F2s_v2', 'Standard_E2s_v3'];

// The images offered when the account's supported images cannot be read
// (a user with no Batch data-plane role).
const DEFAULT_IMAGES = [
  { nodeAgentSKUId: 'batch.node.ubuntu 22.04', imageReference: { publisher: 'canonical', offer: '0001-com-ubuntu-server-jammy', sku: '22_04-lts' } },
];

async function supportedImages(accountId) {
  try {
    const r = await batch('GET', accountId, 'supportedimages');
    const v = (r.value || []).filter((i) => i.imageReference);
    return v.length ? v : DEFAULT_IMAGES;
  } catch {
    return DEFAULT_IMAGES;
  }
}

async function readableIdentities() {
  const out = [];
  for (const s of await armList('/subscriptions', ARM_RESOURCES)) {
    const list = await armList(`/subscriptions/${s.subscriptionId}/resources`, ARM_RESOURCES,
      `&$filter=${encodeURIComponent("resourceType eq 'Microsoft.ManagedIdentity/userAssignedIdentities'")}`);
    for (const i of list) out.push({ ...i, subscriptionName: s.displayName || s.subscriptionId });
  }
  return out;
}

// identityPicker opens a modal listing every identity the user can read,
// and calls onAdd with the checked ones.
async function identityPicker(chosen, onAdd) {
  const status = h('p', { class: 'muted', text: 'Loading identities…' });
  const dlg = h('dialog', { 'aria-labelledby': 'picker-title' },
    h('h2', { id: 'picker-title', text: 'Add user assigned managed identity' }), status);
  document.body.append(dlg);
  dlg.addEventListener('close', () => dlg.remove());
  dlg.showModal();
  let ids;
  try { ids = await readableIdentities(); } catch (e) { status.replaceWith(alertBox(e)); return; }
  const boxes = [];
  const list = h('ul', { class: 'picker-list', 'aria-label': 'User assigned managed identities' });
  ids.forEach((i, n) => {
    const p = parseId(i.id);
    const cb = h('input', { type: 'checkbox', id: `pick-${n}`, checked: chosen.has(i.id) });
    boxes.push([cb, i]);
    list.append(h('li', {}, cb, ' ', h('label', { for: cb.id, text: i.name }),
      h('span', { class: 'muted', text: `  ${p.resourceGroup} · ${i.subscriptionName}` })));
  });
  status.replaceWith(ids.length ? list : h('p', { text: 'You cannot read any user assigned managed identity.' }));
  dlg.append(h('div', { class: 'toolbar' },
    h('button', { type: 'button', class: 'primary', onclick: () => { onAdd(boxes.filter(([c]) => c.checked).map(([, i]) => i.id)); dlg.close(); } }, 'Add'),
    h('button', { type: 'button', onclick: () => dlg.close() }, 'Cancel')));
}

export async function poolForm(main, accountId, accountShell) {
  const state = { identity: 'None', scale: 'Fixed', container: 'None', startTask: 'Disabled', identities: new Set() };
  const form = h('form', { class: 'blade', novalidate: true, 'aria-labelledby': 'add-pool-title' });
  accountShell(accountId, 'pools', 'Add pool', h('h2', { id: 'add-pool-title', text: 'Add pool' }), form);

  const poolId = h('input', { type: 'text', required: true, autocomplete: 'off', maxlength: '64' });
  const displayName = h('input', { type: 'text', autocomplete: 'off' });

  // Identity.
  const chosenList = h('ul', { 'aria-label': 'Selected identities' });
  const identitySection = h('fieldset', { hidden: true }, h('legend', { text: 'User assigned managed identity' }), chosenList,
    h('button', { type: 'button', onclick: () => identityPicker(state.identities, (ids) => { ids.forEach((i) => state.identities.add(i)); renderChosen(); }) }, 'Add'));
  const identityRefs = [];
  function renderChosen() {
    chosenList.replaceChildren(...[...state.identities].map((id) => h('li', {}, parseId(id).name, ' ',
      h('button', { type: 'button', 'aria-label': `Remove ${parseId(id).name}`, onclick: () => { state.identities.delete(id); renderChosen(); } }, 'Remove'))));
    for (const s of identityRefs) {
      const v = s.value;
      s.replaceChildren(h('option', { value: '', text: 'None' }), ...[...state.identities].map((id) => h('option', { value: id, selected: id === v, text: parseId(id).name })));
    }
  }
  const identityRefSelect = () => { const s = select([['', 'None']]); identityRefs.push(s); return s; };

  // Operating System, from the account's supported images.
  const images = await supportedImages(accountId);
  const publisher = select([...new Set(images.map((i) => i.imageReference.publisher))]);
  const offer = select([]);
  const sku = select([]);
  const fill = (sel, values) => { const v = sel.value; sel.replaceChildren(...[...new Set(values)].map((x) => h('option', { value: x, selected: x === v, text: x }))); };
  const refill = () => {
    fill(offer, images.filter((i) => i.imageReference.publisher === publisher.value).map((i) => i.imageReference.offer));
    fill(sku, images.filter((i) => i.imageReference.publisher === publisher.value && i.imageReference.offer === offer.value).map((i) => i.imageReference.sku));
  };
  publisher.addEventListener('change', refill);
  offer.addEventListener('change', refill);
  refill();
  const nodeSize = select(NODE_SIZES, NODE_SIZES[0]);

  // Scale.
  const dedicated = h('input', { type: 'number', min: '0', value: '1' });
  const lowPriority = h('input', { type: 'number', min: '0', value: '0' });
  const formula = h('textarea', { rows: '3' }, '$TargetDedicatedNodes = 1;');
  const interval = h('input', { type: 'number', min: '5', value: '15' });
  const fixedBox = h('div', {}, field('Target dedicated nodes', dedicated), field('Target Spot/low-priority nodes', lowPriority));
  const autoBox = h('div', { hidden: true }, field('Formula', formula), field('AutoScale evaluation interval (minutes)', interval));

  // Container configuration.
  const images2 = h('textarea', { rows: '2' });
  const registry = h('input', { type: 'text', placeholder: 'myregistry.azurecr.io' });
  const registryIdentity = identityRefSelect();
  const containerBox = h('div', { hidden: true }, field('Container image names', images2, 'One image per line.'),
    field('Container registry', registry), field('Container registry identity', registryIdentity));

  // Start task.
  const commandLine = h('input', { type: 'text', value: '/bin/sh -c "echo ready"' });
  const waitForSuccess = h('input', { type: 'checkbox', checked: true, id: 'wait-success' });
  const elevation = select([['NonAdmin', 'NonAdmin'], ['Admin', 'Admin']], 'NonAdmin');
  const storageContainer = h('input', { type: 'text', placeholder: 'https://account.blob.core.windows.net/container' });
  const resourceIdentity = identityRefSelect();
  const startBox = h('div', { hidden: true }, field('Command line', commandLine),
    h('div', { class: 'field' }, h('span', {}, waitForSuccess, ' ', h('label', { for: 'wait-success', text: 'Wait for success' }))),
    field('Elevation level', elevation),
    field('Resource files storage container URL', storageContainer), field('Resource files identity', resourceIdentity));

  const errors = h('div', { 'aria-live': 'polite' });
  const ok = h('button', { type: 'submit', class: 'primary' }, 'OK');
  form.append(
    field('Pool ID', poolId), field('Display name', displayName),
    radios('Identity', 'identity', [['None', 'None'], ['UserAssigned', 'User assigned']], 'None', (v) => { state.identity = v; identitySection.hidden = v !== 'UserAssigned'; }),
    identitySection,
    h('fieldset', {}, h('legend', { text: 'Operating System' }), field('Publisher', publisher), field('Offer', offer), field('Sku', sku)),
    field('Node size', nodeSize),
    radios('Scale', 'scale', [['Fixed', 'Fixed'], ['Auto', 'Auto scale']], 'Fixed', (v) => { state.scale = v; fixedBox.hidden = v !== 'Fixed'; autoBox.hidden = v !== 'Auto'; }),
    fixedBox, autoBox,
    radios('Container configuration', 'container', [['None', 'None'], ['Custom', 'Custom']], 'None', (v) => { state.container = v; containerBox.hidden = v !== 'Custom'; }),
    containerBox,
    radios('Start task', 'starttask', [['Disabled', 'Disabled'], ['Enabled', 'Enabled']], 'Disabled', (v) => { state.startTask = v; startBox.hidden = v !== 'Enabled'; }),
    startBox,
    errors,
    h('div', { class: 'toolbar' }, ok, h('button', { type: 'button', onclick: () => { location.hash = `#/account${accountId}/pools`; } }, 'Cancel')));

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    errors.replaceChildren();
    const name = poolId.value.trim();
    if (!name) { errors.append(alertBox({ code: 'PoolIdRequired', message: 'Enter a Pool ID.' })); poolId.focus(); return; }
    const image = images.find((i) => i.imageReference.publisher === publisher.value && i.imageReference.offer === offer.value && i.imageReference.sku === sku.value);
    const vmc = { imageReference: { publisher: publisher.value, offer: offer.value, sku: sku.value, version: 'latest' },
      nodeAgentSkuId: image ? image.nodeAgentSKUId : '' };
    if (state.container === 'Custom') {
      const cc = { type: 'DockerCompatible', containerImageNames: images2.value.split('\n').map((x) => x.trim()).filter(Boolean) };
      if (registry.value.trim()) {
        const reg = { registryServer: registry.value.trim() };
        if (registryIdentity.value) reg.identityReference = { resourceId: registryIdentity.value };
        cc.containerRegistries = [reg];
      }
      vmc.containerConfiguration = cc;
    }
    const props = { vmSize: nodeSize.value, deploymentConfiguration: { virtualMachineConfiguration: vmc } };
    if (displayName.value.trim()) props.displayName = displayName.value.trim();
    props.scaleSettings = state.scale === 'Fixed'
      ? { fixedScale: { targetDedicatedNodes: Number(dedicated.value) || 0, targetLowPriorityNodes: Number(lowPriority.value) || 0 } }
      : { autoScale: { formula: formula.value, evaluationInterval: `PT${Number(interval.value) || 15}M` } };
    if (state.startTask === 'Enabled') {
      const st = { commandLine: commandLine.value, waitForSuccess: waitForSuccess.checked,
        userIdentity: { autoUser: { scope: 'Pool', elevationLevel: elevation.value } } };
      if (storageContainer.value.trim()) {
        const rf = { storageContainerUrl: storageContainer.value.trim() };
        if (resourceIdentity.value) rf.identityReference = { resourceId: resourceIdentity.value };
        st.resourceFiles = [rf];
      }
      props.startTask = st;
    }
    const body = { properties: props };
    if (state.identity === 'UserAssigned' && state.identities.size) {
      body.identity = { type: 'UserAssigned', userAssignedIdentities: Object.fromEntries([...state.identities].map((i) => [i, {}])) };
    }
    ok.disabled = true;
    try {
      await arm('PUT', `${accountId}/pools/${encodeURIComponent(name)}`, ARM_BATCH, body);
      location.hash = `#/account${accountId}/pools/${encodeURIComponent(name)}`;
    } catch (e) {
      errors.append(alertBox(e));
      errors.querySelector('[role=alert]').focus?.();
    } finally {
      ok.disabled = false;
    }
  });
  poolId.focus();
}
