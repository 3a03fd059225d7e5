// Jobs and tasks of a Batch account, through its data plane: list, create,
// terminate; a task page with its stdout and stderr.
import { batch, batchText } from './api.js';
import { alertBox, field, h, select, table } from './dom.js';

const enc = encodeURIComponent;

export async function jobsPage(accountId, accountShell) {
  const status = h('p', { class: 'muted', text: 'Loading…' });
  const errors = h('div', { 'aria-live': 'polite' });
  const jobId = h('input', { type: 'text', autocomplete: 'off' });
  const poolSel = select([]);
  const form = h('form', { class: 'blade', 'aria-label': 'Add job' }, h('h2', { text: 'Add job' }),
    field('Job ID', jobId), field('Pool', poolSel), errors, h('button', { type: 'submit', class: 'primary' }, 'OK'));
  accountShell(accountId, 'jobs', 'Jobs', status, form);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    errors.replaceChildren();
    try {
      await batch('POST', accountId, 'jobs', { id: jobId.value.trim(), poolInfo: { poolId: poolSel.value } });
      location.hash = `#/account${accountId}/jobs/${enc(jobId.value.trim())}`;
    } catch (e) { errors.append(alertBox(e)); }
  });
  try {
    const [jobs, pools] = await Promise.all([batch('GET', accountId, 'jobs'), batch('GET', accountId, 'pools')]);
    poolSel.replaceChildren(...(pools.value || []).map((p) => h('option', { value: p.id, text: p.id })));
    const rows = (jobs.value || []).map((j) => [h('a', { href: `#/account${accountId}/jobs/${enc(j.id)}`, text: j.id }),
      j.state, (j.poolInfo && j.poolInfo.poolId) || '']);
    status.replaceWith(rows.length ? table(['Job ID', 'State', 'Pool'], rows) : h('p', { text: 'No jobs to display.' }));
  } catch (e) { status.replaceWith(alertBox(e)); }
}

export async function jobPage(accountId, jobId, accountShell, onStop) {
  const info = h('p');
  const tasks = h('div', { 'aria-live': 'polite' });
  const errors = h('div', { 'aria-live': 'polite' });
  const taskId = h('input', { type: 'text', autocomplete: 'off' });
  const cmd = h('input', { type: 'text', value: '/bin/sh -c "echo hello"' });
  const form = h('form', { class: 'blade', 'aria-label': 'Add task' }, h('h2', { text: 'Add task' }),
    field('Task ID', taskId), field('Command line', cmd), h('button', { type: 'submit', class: 'primary' }, 'Add task'));
  const terminate = h('button', { type: 'button' }, 'Terminate job');
  accountShell(accountId, 'jobs', `Job ${jobId}`, h('div', { class: 'toolbar' }, terminate), info, errors,
    h('h2', { text: 'Tasks' }), tasks, form);
  let timer = null;
  let stopped = false;
  onStop(() => { stopped = true; clearTimeout(timer); });
  terminate.addEventListener('click', async () => {
    errors.replaceChildren();
    try { await batch('POST', accountId, `jobs/${enc(jobId)}/terminate`, {}); } catch (e) { errors.append(alertBox(e)); }
  });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    errors.replaceChildren();
    try {
      await batch('POST', accountId, `jobs/${enc(jobId)}/tasks`, { id: taskId.value.trim(), commandLine: cmd.value });
      taskId.value = '';
    } catch (e) { errors.append(alertBox(e)); }
  });
  async function refresh() {
    try {
      const j = await batch('GET', accountId, `jobs/${enc(jobId)}`);
      info.textContent = `State: ${j.state} · Pool: ${(j.poolInfo && j.poolInfo.poolId) || ''}`;
      const list = await batch('GET', accountId, `jobs/${enc(jobId)}/tasks`);
      const rows = (list.value || []).map((t) => [h('a', { href: `#/account${accountId}/jobs/${enc(jobId)}/tasks/${enc(t.id)}`, text: t.id }),
        t.state, t.executionInfo && t.executionInfo.exitCode !== undefined ? String(t.executionInfo.exitCode) : '', t.commandLine]);
      tasks.replaceChildren(rows.length ? table(['Task ID', 'State', 'Exit code', 'Command line'], rows) : h('p', { text: 'No tasks.' }));
    } catch (e) { tasks.replaceChildren(alertBox(e)); }
    if (!stopped) timer = setTimeout(refresh, 3000);
  }
  refresh();
}

export async function taskPage(accountId, jobId, taskId, accountShell) {
  const info = h('p');
  const out = h('pre', { 'aria-label': 'stdout', class: 'output' });
  const err = h('pre', { 'aria-label': 'stderr', class: 'output' });
  accountShell(accountId, 'jobs', `Task ${taskId}`, info, h('h2', { text: 'stdout.txt' }), out, h('h2', { text: 'stderr.txt' }), err);
  try {
    const t = await batch('GET', accountId, `jobs/${enc(jobId)}/tasks/${enc(taskId)}`);
    info.textContent = `State: ${t.state}` + (t.executionInfo && t.executionInfo.exitCode !== undefined ? ` · Exit code: ${t.executionInfo.exitCode}` : '');
    for (const [name, el] of [['stdout.txt', out], ['stderr.txt', err]]) {
      try { el.textContent = await batchText(accountId, `jobs/${enc(jobId)}/tasks/${enc(taskId)}/files/${name}`); } catch (e) { el.replaceWith(alertBox(e)); }
    }
  } catch (e) { info.replaceWith(alertBox(e)); }
}
