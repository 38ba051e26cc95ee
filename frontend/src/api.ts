// Typed client for the Herald HTTP API (/api/...).
//
// The session lives in an HttpOnly cookie; this module only keeps the CSRF
// token that login and /api/me return, and sends it on every unsafe request.

/** The signed-in user, their workspace and role, as returned by login and /api/me. */
export interface Session {
  user: { id: string; email: string };
  workspace: { id: string; name: string };
  role: 'owner' | 'editor' | 'viewer';
  csrf_token: string;
  temporal_ui_url: string;
}

/** Kind of API key: write keys send events, secret keys call the server API. */
export type KeyKind = 'write' | 'secret';

/** An API key as listed; the full key is never returned after creation. */
export interface ApiKey {
  id: string;
  kind: KeyKind;
  name: string;
  prefix: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

/** A just-created key: `key` is the only time the full secret is returned. */
export interface CreatedKey {
  id: string;
  kind: KeyKind;
  name: string;
  prefix: string;
  key: string;
  created_at: string;
}

/** An error answer from the API (or a network failure, with status 0). */
export class ApiError extends Error {
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

let csrfToken = '';
let onUnauthorized: (() => void) | null = null;

/** Sets the CSRF token sent on unsafe requests (login and me set it themselves). */
export function setCsrfToken(token: string): void {
  csrfToken = token;
}

/**
 * Registers a callback for a 401 on any call made while signed in (the session
 * expired or was revoked). login and me report 401 to their caller instead.
 */
export function setUnauthorizedHandler(fn: (() => void) | null): void {
  onUnauthorized = fn;
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

interface RequestOptions {
  method?: string;
  body?: unknown;
  /** Do not call the unauthorized handler on 401 (login, me). */
  quiet401?: boolean;
}

async function request<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const method = opts.method ?? 'GET';
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (UNSAFE.has(method)) {
    headers['Content-Type'] = 'application/json';
    // Before sign-in there is no token yet: POST /api/login goes without one.
    if (csrfToken) headers['X-CSRF-Token'] = csrfToken;
  }
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    });
  } catch {
    throw new ApiError(0, 'Could not reach the Herald server. Check your connection and try again.');
  }
  if (!res.ok) {
    const message = await errorMessage(res);
    if (res.status === 401 && !opts.quiet401 && onUnauthorized) onUnauthorized();
    throw new ApiError(res.status, message);
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

async function errorMessage(res: Response): Promise<string> {
  try {
    const body = (await res.json()) as { error?: unknown };
    if (typeof body.error === 'string' && body.error) return body.error;
  } catch {
    // Not JSON: fall through to a generic message.
  }
  const status = res.statusText ? `${res.status} ${res.statusText}` : String(res.status);
  return `Request failed (${status})`;
}

/** Signs in with email and password; a 401 means bad credentials. */
export async function login(email: string, password: string): Promise<Session> {
  const s = await request<Session>('/api/login', {
    method: 'POST',
    body: { email, password },
    quiet401: true,
  });
  setCsrfToken(s.csrf_token);
  return s;
}

/** Returns the current session, or null when not signed in. */
export async function me(): Promise<Session | null> {
  try {
    const s = await request<Session>('/api/me', { quiet401: true });
    setCsrfToken(s.csrf_token);
    return s;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return null;
    throw err;
  }
}

/** Ends the session. */
export async function logout(): Promise<void> {
  await request<void>('/api/logout', { method: 'POST', quiet401: true });
  setCsrfToken('');
}

/** Lists the workspace's API keys, revoked ones included. */
export async function listKeys(): Promise<ApiKey[]> {
  const body = await request<{ items: ApiKey[] | null }>('/api/keys');
  return body.items ?? [];
}

/** Creates a key; the returned `key` must be shown to the user now or never. */
export function createKey(kind: KeyKind, name: string): Promise<CreatedKey> {
  return request<CreatedKey>('/api/keys', { method: 'POST', body: { kind, name } });
}

/** Revokes a key; requests using it are refused from then on. */
export function revokeKey(id: string): Promise<void> {
  return request<void>(`/api/keys/${encodeURIComponent(id)}`, { method: 'DELETE' });
}
