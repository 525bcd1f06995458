// Calls the API with the session cookie; writes carry the session's CSRF token. 401 sends to /login.

let csrf = null;
export function setCsrf(token) { csrf = token; }

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message || `HTTP ${status}`);
    this.status = status;
    this.code = body?.error?.code;
    this.details = body?.error?.details;
  }
}

export function toLogin() {
  const next = location.pathname + location.hash;
  location.assign(`/login?next=${encodeURIComponent(next)}`);
}

export async function api(path, { method = "GET", body, query } = {}) {
  const url = query ? `${path}?${new URLSearchParams(Object.entries(query).filter(([, v]) => v !== "" && v !== null && v !== undefined))}` : path;
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrf) headers["X-CSRF-Token"] = csrf;
  const resp = await fetch(url, {
    method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (resp.status === 401 && path !== "/v1/auth/login") { toLogin(); throw new ApiError(401, null); }
  if (resp.status === 204) return null;
  const data = await resp.json().catch(() => null);
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}
