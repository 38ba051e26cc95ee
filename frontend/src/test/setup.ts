import { cleanup } from '@testing-library/react';
import { afterEach } from 'vitest';
import { setCsrfToken, setUnauthorizedHandler } from '../api.ts';

afterEach(() => {
  cleanup();
  setCsrfToken('');
  setUnauthorizedHandler(null);
  window.history.replaceState(null, '', '/');
});
