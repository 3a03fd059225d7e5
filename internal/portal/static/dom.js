// Small DOM helpers: every element is built with textContent, never
// innerHTML, so nothing a service returns is ever parsed as markup.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

let uid = 0;
// field returns a labelled control: a label bound to the control by id.
export function field(labelText, control, hint) {
  control.id = control.id || `f${++uid}`;
  const parts = [h('label', { for: control.id, text: labelText }), control];
  if (hint) {
    const hid = `${control.id}-hint`;
    control.setAttribute('aria-describedby', hid);
    parts.push(h('span', { class: 'muted', id: hid, text: hint }));
  }
  return h('div', { class: 'field' }, parts);
}

// radios returns a fieldset of radio buttons with a legend.
export function radios(legend, name, options, value, onchange) {
  const fs = h('fieldset', {}, h('legend', { text: legend }));
  const row = h('div', { class: 'choices' });
  for (const [val, text] of options) {
    const id = `${name}-${val}`;
    const input = h('input', { type: 'radio', name, id, value: val, checked: val === value,
      onchange: () => onchange(val) });
    row.append(h('span', {}, input, ' ', h('label', { for: id, text })));
  }
  fs.append(row);
  return fs;
}

export function select(options, value) {
  const s = h('select');
  for (const o of options) {
    const [val, text] = Array.isArray(o) ? o : [o, o];
    s.append(h('option', { value: val, selected: val === value, text }));
  }
  return s;
}

export function alertBox(err) {
  const code = err && err.code ? `${err.code}: ` : '';
  return h('div', { class: 'alert', role: 'alert', text: code + (err && err.message ? err.message : String(err)) });
}

export function table(headers, rows) {
  return h('table', {},
    h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col', text: x })))),
    h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c) => h('td', {}, c))))));
}

// parseId splits an ARM resource ID.
export function parseId(id) {
  const p = id.split('/');
  const get = (k) => { const i = p.findIndex((x) => x.toLowerCase() === k.toLowerCase()); return i >= 0 ? p[i + 1] : ''; };
  return { subscription: get('subscriptions'), resourceGroup: get('resourceGroups'), name: p[p.length - 1] };
}
