import { afterEach, describe, expect, it, vi } from 'vitest';
import * as api from './api.ts';
import { json, mockFetch, noContent } from './test/fetchMock.ts';
import { session } from './test/fixtures.ts';

describe('api', () => {
  afterEach(() => api.setCsrfToken(''));

  it('sends the CSRF token from /api/me on unsafe requests only', async () => {
    const { calls } = mockFetch({
      'GET /api/me': () => json(200, session),
      'GET /api/keys': () => json(200, { items: null }),
      'DELETE /api/keys/a%20b': () => noContent(),
    });

    expect(await api.me()).toEqual(session);
    expect(await api.listKeys()).toEqual([]);
    await api.revokeKey('a b');

    expect(calls.map((c) => c.headers['x-csrf-token'])).toEqual([undefined, undefined, 'csrf-123']);
    expect(calls[2].path).toBe('/api/keys/a%20b');
    expect(calls.every((c) => c.credentials === 'same-origin')).toBe(true);
  });

  it('returns null from me() when signed out, without calling the unauthorized handler', async () => {
    mockFetch({ 'GET /api/me': () => json(401, { error: 'not logged in' }) });
    const handler = vi.fn();
    api.setUnauthorizedHandler(handler);
    expect(await api.me()).toBeNull();
    expect(handler).not.toHaveBeenCalled();
  });

  it('reports a 401 on other calls to the unauthorized handler', async () => {
    mockFetch({ 'GET /api/keys': () => json(401, { error: 'session expired' }) });
    const handler = vi.fn();
    api.setUnauthorizedHandler(handler);
    await expect(api.listKeys()).rejects.toMatchObject({ status: 401, message: 'session expired' });
    expect(handler).toHaveBeenCalledOnce();
  });

  it('downloads through the same path as every call: an expired session reaches the unauthorized handler', async () => {
    let expired = true;
    mockFetch({
      'GET /api/customers/cus_1/export': () =>
        expired ? json(401, { error: 'session expired' }) : new Response('{}', { status: 200, headers: { 'Content-Disposition': `attachment; filename*=UTF-8''caf%C3%A9.json` } }),
    });
    const handler = vi.fn();
    api.setUnauthorizedHandler(handler);
    await expect(api.exportCustomer('cus_1')).rejects.toMatchObject({ status: 401, message: 'session expired' });
    expect(handler).toHaveBeenCalledOnce();
    expired = false;
    const file = await api.exportCustomer('cus_1');
    expect(file.fileName).toBe('café.json');
    expect(await file.blob.text()).toBe('{}');
  });

  it('reads the file name of a Content-Disposition header', () => {
    expect(api.attachmentName('attachment; filename="customer-cus_1.json"')).toBe('customer-cus_1.json');
    expect(api.attachmentName('attachment; filename=rows.csv')).toBe('rows.csv');
    expect(api.attachmentName(`attachment; filename="a.csv"; filename*=UTF-8''%E2%82%AC.csv`)).toBe('€.csv');
    expect(api.attachmentName('attachment; filename="say \\"hi\\".csv"')).toBe('say "hi".csv');
    expect(api.attachmentName('attachment')).toBe('');
    expect(api.attachmentName(null)).toBe('');
  });

  it('uses a generic message when the error body is not JSON', async () => {
    mockFetch({ 'GET /api/keys': () => new Response('<html>oops</html>', { status: 502, statusText: 'Bad Gateway' }) });
    await expect(api.listKeys()).rejects.toMatchObject({ status: 502, message: 'Request failed (502 Bad Gateway)' });
  });

  it('clears the token on logout', async () => {
    const { calls } = mockFetch({
      'POST /api/login': () => json(200, session),
      'POST /api/logout': () => noContent(),
      'POST /api/keys': () => json(401, { error: 'not logged in' }),
    });
    await api.login('ada@example.com', 'pw');
    await api.logout();
    await expect(api.createKey('write', 'x')).rejects.toBeInstanceOf(api.ApiError);
    expect(calls.map((c) => c.headers['x-csrf-token'])).toEqual([undefined, 'csrf-123', undefined]);
  });
});
