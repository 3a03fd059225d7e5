// A pool's page: allocation state and nodes, refreshed by themselves, each
// node's identities, and the warning when the pool's identities differ
// from what its nodes carry.
import { ARM_BATCH, arm, batch } from './api.js';
import { alertBox, h, parseId, table } from './dom.js';

const REFRESH_MS = 3000;

function identitySet(ids) { return [...new Set(ids.map((x) => x.toLowerCase()))].sort(); }

export async function poolPage(main, accountId, poolName, accountShell, onStop) {
  const props = h('dl', { class: 'props', 'aria-label': 'Pool properties' });
  const warning = h('div', { 'aria-live': 'polite' });
  const nodes = h('div', { 'aria-live': 'polite' });
  const updated = h('p', { class: 'muted' });
  const heat = h('ul', { class: 'heatmap', 'aria-label': 'Node states heat map' });
  const legend = h('ul', { class: 'legend', 'aria-hidden': 'true' },
    ['idle', 'running', 'starting', 'starttaskfailed', 'leavingpool'].map((s) => h('li', {}, h('span', { class: `st-${s}` }), s)));
  const target = h('input', { type: 'number', min: '0', id: 'resize-target' });
  const resizeErr = h('div', { 'aria-live': 'polite' });
  const resize = h('form', { class: 'toolbar', 'aria-label': 'Resize pool' },
    h('label', { for: 'resize-target', text: 'Target dedicated nodes' }), target,
    h('button', { type: 'submit' }, 'Resize'));
  resize.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    resizeErr.replaceChildren();
    try {
      await arm('PATCH', `${accountId}/pools/${encodeURIComponent(poolName)}`, ARM_BATCH,
        { properties: { scaleSettings: { fixedScale: { targetDedicatedNodes: Number(target.value) || 0 } } } });
      resizeErr.append(h('div', { class: 'ok', role: 'status', text: 'Resize requested.' }));
    } catch (e) { resizeErr.append(alertBox(e)); }
  });
  accountShell(accountId, 'pools', poolName, props, warning, resize, resizeErr,
    h('h2', { text: 'Node states' }), heat, legend, h('h2', { text: 'Nodes' }), nodes, updated);
  let timer = null;
  let stopped = false;
  onStop(() => { stopped = true; clearTimeout(timer); });

  async function refresh() {
    try {
      const p = await arm('GET', `${accountId}/pools/${encodeURIComponent(poolName)}`, ARM_BATCH);
      const pp = p.properties;
      const poolIds = Object.keys((p.identity && p.identity.userAssignedIdentities) || {});
      const rows = [['Allocation state', pp.allocationState], ['Provisioning state', pp.provisioningState],
        ['Dedicated nodes', `${pp.currentDedicatedNodes ?? 0}`], ['Node size', pp.vmSize],
        ['Identity', poolIds.length ? poolIds.map((i) => parseId(i).name).join(', ') : 'None']];
      if (document.activeElement !== target && target.value === '') {
        const fs = pp.scaleSettings && pp.scaleSettings.fixedScale;
        target.value = fs ? String(fs.targetDedicatedNodes ?? 0) : '';
      }
      props.replaceChildren(...rows.flatMap(([k, v]) => [h('dt', { text: k }), h('dd', { text: v ?? '' })]));

      let nodeList = [];
      try {
        const r = await batch('GET', accountId, `pools/${encodeURIComponent(poolName)}/nodes`);
        nodeList = r.value || [];
        heat.replaceChildren(...nodeList.map((n) => h('li', { class: `st-${String(n.state).toLowerCase()}`,
          title: `${n.id}: ${n.state}`, 'aria-label': `${n.id}: ${n.state}` })));
        nodes.replaceChildren(nodeList.length
          ? table(['Node', 'State', 'Identities'], nodeList.map((n) => [n.id, n.state,
            (n.identities || []).map((i) => parseId(i.resourceId || '').name).join(', ') || 'None']))
          : h('p', { text: 'No nodes.' }));
      } catch (e) {
        nodes.replaceChildren(alertBox(e));
      }
      const want = identitySet(poolIds).join('\n');
      const differ = nodeList.filter((n) => identitySet((n.identities || []).map((i) => i.resourceId || '')).join('\n') !== want);
      warning.replaceChildren();
      if (pp.identityWarning || differ.length) {
        warning.append(h('div', { class: 'warning', role: 'status' },
          pp.identityWarning || `The identities of this pool differ from those ${differ.length} of its nodes carry. Existing nodes keep the identities they were allocated with; scale the pool to zero and back to give every node the pool's identities.`));
      }
      updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
    } catch (e) {
      props.replaceChildren(alertBox(e));
    }
    if (!stopped) timer = setTimeout(refresh, REFRESH_MS);
  }
  refresh();
}
