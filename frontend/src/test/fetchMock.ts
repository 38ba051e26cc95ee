// A scripted stand-in for window.fetch in component tests: each route
// (method + path) answers from a handler, and every call is recorded.
import { vi } from 'vitest';

/** One request the component made. */
export interface Call {
  method: string;
  path: string;
  /** The query parameters (routes match on the path alone). */
  query: URLSearchParams;
  headers: Record<string, string>;
  body: unknown;
  credentials: RequestCredentials | undefined;
}

type Handler = (call: Call) => Response | Promise<Response>;

/** Builds a JSON response. */
export function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json' },
  });
}

/** A 204 No Content response. */
export function noContent(): Response {
  return new Response(null, { status: 204 });
}

/** Installs a fetch mock; routes are keyed "METHOD /path". Unknown routes fail the test. */
export function mockFetch(routes: Record<string, Handler>) {
  const calls: Call[] = [];
  const fn = vi.fn(async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = new URL(typeof input === 'string' ? input : input.toString(), 'http://localhost');
    const method = (init.method ?? 'GET').toUpperCase();
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((v, k) => (headers[k] = v));
    const call: Call = {
      method,
      path: url.pathname,
      query: url.searchParams,
      headers,
      body: typeof init.body === 'string' ? JSON.parse(init.body) : undefined,
      credentials: init.credentials,
    };
    calls.push(call);
    const handler = routes[`${method} ${url.pathname}`];
    if (!handler) throw new Error(`unexpected request ${method} ${url.pathname}`);
    return handler(call);
  });
  vi.stubGlobal('fetch', fn);
  return { calls, fn };
}
