// Access control (IAM) of any resource: its role assignments (at its scope
// and inherited), and a form to add one with a role and an assignee.
import { arm, armList } from './api.js';
import { alertBox, field, h, select, table } from './dom.js';

const ARM_AUTHZ = '2022-04-01';

export async function accessPage(scope, shell) {
  let status = h('p', { class: 'muted', text: 'Loading…' });
  const errors = h('div', { 'aria-live': 'polite' });
  const role = select([]);
  const assignee = h('input', { type: 'text', autocomplete: 'off', placeholder: '00000000-0000-0000-0000-000000000000' });
  const ptype = select(['User', 'ServicePrincipal', 'Group'], 'User');
  const form = h('form', { class: 'blade', 'aria-label': 'Add role assignment' }, h('h2', { text: 'Add role assignment' }),
    field('Role', role), field('Assignee object ID', assignee, 'The principal (object) ID of a user, service principal or managed identity.'),
    field('Assignee type', ptype), errors, h('button', { type: 'submit', class: 'primary' }, 'Review + assign'));
  shell(h('h2', { text: 'Role assignments' }), status, form);
  let defs = [];
  const roleName = (id) => {
    const d = defs.find((x) => x.id.toLowerCase() === String(id).toLowerCase() || x.name === String(id).split('/').pop());
    return d ? d.properties.roleName : String(id).split('/').pop();
  };
  async function load() {
    try {
      defs = await armList(`${scope}/providers/Microsoft.Authorization/roleDefinitions`, ARM_AUTHZ);
      if (!role.options.length) {
        role.replaceChildren(...defs.map((d) => h('option', { value: d.id, text: d.properties.roleName }))
          .sort((a, b) => a.textContent.localeCompare(b.textContent)));
      }
      const list = await armList(`${scope}/providers/Microsoft.Authorization/roleAssignments`, ARM_AUTHZ);
      const rows = list.map((a) => [roleName(a.properties.roleDefinitionId), a.properties.principalId,
        a.properties.principalType, a.properties.scope.toLowerCase() === scope.toLowerCase() ? 'This resource' : a.properties.scope]);
      const t = rows.length ? table(['Role', 'Principal', 'Type', 'Scope'], rows) : h('p', { text: 'No role assignments.' });
      status.replaceWith(t);
      status = t;
    } catch (e) {
      const a = alertBox(e);
      status.replaceWith(a);
      status = a;
    }
  }
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    errors.replaceChildren();
    try {
      await arm('PUT', `${scope}/providers/Microsoft.Authorization/roleAssignments/${crypto.randomUUID()}`, ARM_AUTHZ,
        { properties: { roleDefinitionId: role.value, principalId: assignee.value.trim(), principalType: ptype.value } });
      errors.append(h('div', { class: 'ok', role: 'status', text: 'Role assignment added.' }));
      load();
    } catch (e) { errors.append(alertBox(e)); }
  });
  load();
}
