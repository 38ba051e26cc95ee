import { act, renderHook } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { useLeaveGuard, usePath } from './router.ts';

describe('useLeaveGuard', () => {
  afterEach(() => {
    vi.restoreAllMocks();
    window.history.replaceState(null, '', '/');
  });

  it('asks before in-app navigation leaves a page with unsaved changes', () => {
    window.history.replaceState(null, '', '/journeys/j1');
    const confirm = vi.spyOn(window, 'confirm').mockReturnValue(false);
    const { result, rerender } = renderHook(({ dirty }) => {
      useLeaveGuard(dirty, 'Unsaved. Leave?');
      return usePath();
    }, { initialProps: { dirty: true } });

    act(() => result.current[1]('/customers'));
    expect(confirm).toHaveBeenCalledWith('Unsaved. Leave?');
    expect(window.location.pathname).toBe('/journeys/j1');
    expect(result.current[0]).toBe('/journeys/j1');

    confirm.mockReturnValue(true);
    act(() => result.current[1]('/customers'));
    expect(window.location.pathname).toBe('/customers');
    expect(result.current[0]).toBe('/customers');

    // Saved: no question any more.
    confirm.mockClear();
    rerender({ dirty: false });
    act(() => result.current[1]('/journeys'));
    expect(confirm).not.toHaveBeenCalled();
    expect(result.current[0]).toBe('/journeys');
  });
});
