// A minimal history-API router: the Go server answers index.html for any
// unknown non-API path, so deep links such as /settings/api-keys work.
import { useCallback, useEffect, useState, type MouseEvent } from 'react';

/** The page's leave guard (unsaved changes): it says whether leaving may go on. */
let leaveGuard: (() => boolean) | null = null;

/**
 * While active, in-app navigation (links, the back button) away from the
 * page asks `message` first; reloading and closing the tab ask the browser's
 * own question.
 */
export function useLeaveGuard(active: boolean, message: string) {
  useEffect(() => {
    if (!active) return;
    const guard = () => window.confirm(message);
    leaveGuard = guard;
    const onUnload = (e: BeforeUnloadEvent) => e.preventDefault();
    window.addEventListener('beforeunload', onUnload);
    return () => {
      if (leaveGuard === guard) leaveGuard = null;
      window.removeEventListener('beforeunload', onUnload);
    };
  }, [active, message]);
}

/** Returns the current path and a function that navigates to another one. */
export function usePath(): [string, (to: string) => void] {
  const [path, setPath] = useState(() => window.location.pathname);

  useEffect(() => {
    let shown = window.location.pathname;
    const onPop = () => {
      if (leaveGuard && window.location.pathname !== shown && !leaveGuard()) {
        window.history.pushState(null, '', shown); // stay: undo the back step
        return;
      }
      shown = window.location.pathname;
      setPath(shown);
    };
    window.addEventListener('popstate', onPop);
    const onPush = () => (shown = window.location.pathname);
    window.addEventListener('herald:navigated', onPush);
    return () => {
      window.removeEventListener('popstate', onPop);
      window.removeEventListener('herald:navigated', onPush);
    };
  }, []);

  const navigate = useCallback((to: string) => {
    if (to !== window.location.pathname) {
      if (leaveGuard && !leaveGuard()) return;
      window.history.pushState(null, '', to);
      window.dispatchEvent(new Event('herald:navigated'));
    }
    setPath(to);
  }, []);

  return [path, navigate];
}

/**
 * Click handler for in-app links: keeps modified clicks (new tab, etc.) with
 * the browser and turns plain left clicks into client-side navigation.
 */
export function linkHandler(to: string, navigate: (to: string) => void) {
  return (e: MouseEvent<HTMLAnchorElement>) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) {
      return;
    }
    e.preventDefault();
    navigate(to);
  };
}
