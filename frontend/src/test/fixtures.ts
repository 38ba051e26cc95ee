import type { ApiKey, Session } from '../api.ts';

/** A signed-in session as /api/login and /api/me return it. */
export const session: Session = {
  user: { id: 'u_1', email: 'ada@example.com' },
  workspace: { id: 'ws_1', name: 'Acme Retail' },
  role: 'owner',
  csrf_token: 'csrf-123',
  temporal_ui_url: 'http://127.0.0.1:8233',
};

/** An active write key that was never used. */
export const writeKey: ApiKey = {
  id: 'key_1',
  kind: 'write',
  name: 'Website',
  prefix: 'hw_3fa9',
  created_at: '2026-01-10T09:30:00Z',
  last_used_at: null,
  revoked_at: null,
};

/** A secret key that was used, then revoked. */
export const revokedSecretKey: ApiKey = {
  id: 'key_2',
  kind: 'secret',
  name: 'Old billing service',
  prefix: 'hs_77c1',
  created_at: '2025-11-02T14:00:00Z',
  last_used_at: '2025-12-24T08:15:00Z',
  revoked_at: '2026-01-05T12:00:00Z',
};
