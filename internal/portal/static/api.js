// Calls to the portal's backend, which forwards them to Resource Manager and
// the Batch data plane with the signed-in user's own token. No token ever
// reaches this page.

export const ARM_BATCH = '2024-07-01';
export const ARM_MSI = '2023-01-31';
export const ARM_RESOURCES = '2022-12-01';

// ApiError carries a service's error code and message as the SDKs see them.
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function errorOf(status, data) {
  if (data && data.error) return new ApiError(status, data.error.code, data.error.message); // ARM
  if (data && data.code) { // Batch: {"code","message":{"value"}}
    const m = data.message && (data.message.value || data.message);
    return new ApiError(status, data.code, typeof m === 'string' ? m : JSON.stringify(m));
  }
  return new ApiError(status, 'HttpError', `The request failed with status ${status}.`);
}

async function call(method, path, body, asText = false) {
  const opts = { method, headers: {}, credentials: 'same-origin' };
  if (method !== 'GET') opts.headers['X-Cobalt-Portal'] = '1';
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(path, opts);
  const text = await r.text();
  if (asText && r.ok) return text;
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (r.status === 401 && data && data.error && data.error.code === 'NotSignedIn') {
    location.href = '/signin';
  }
  if (!r.ok) throw errorOf(r.status, data);
  return data;
}

// arm calls Resource Manager: path is an ARM path, query has api-version.
export function arm(method, path, apiVersion, body, extraQuery = '') {
  return call(method, `/api/arm${path}?api-version=${apiVersion}${extraQuery}`, body);
}

// armList follows nextLink through every page of an ARM list.
export async function armList(path, apiVersion, extraQuery = '') {
  let page = await arm('GET', path, apiVersion, undefined, extraQuery);
  const out = [...(page.value || [])];
  while (page.nextLink) {
    const u = new URL(page.nextLink);
    page = await call('GET', `/api/arm${u.pathname}${u.search}`);
    out.push(...(page.value || []));
  }
  return out;
}

// batch calls an account's Batch data plane.
export function batch(method, accountId, path, body) {
  return call(method, `/api/batch${accountId}/-/${path}`, body);
}

export function me() { return call('GET', '/api/me'); }

// batchText reads a Batch file (stdout.txt, stderr.txt) as text.
export function batchText(accountId, path) {
  return call('GET', `/api/batch${accountId}/-/${path}`, undefined, true);
}

// blobCall calls a storage account's blob endpoint and returns the
// Response; Blob Storage's XML errors become ApiErrors.
export async function blobCall(method, accountId, path, body, headers = {}) {
  const opts = { method, headers: { ...headers }, credentials: 'same-origin' };
  if (method !== 'GET') opts.headers['X-Cobalt-Portal'] = '1';
  if (body !== undefined) opts.body = body;
  const r = await fetch(`/api/blob${accountId}/-/${path}`, opts);
  if (!r.ok) {
    const text = await r.text();
    let code = 'HttpError';
    let message = `The request failed with status ${r.status}.`;
    try {
      const x = new DOMParser().parseFromString(text, 'application/xml');
      code = x.querySelector('Code')?.textContent || code;
      message = x.querySelector('Message')?.textContent || message;
    } catch { /* not XML */ }
    try { const j = JSON.parse(text); if (j.error) { code = j.error.code; message = j.error.message; } } catch { /* not JSON */ }
    throw new ApiError(r.status, code, message);
  }
  return r;
}
