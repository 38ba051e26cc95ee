// A minimal history-API router: the Go server answers index.html for any
// unknown non-API path, so deep links such as /settings/api-keys work.
import { useCallback, useEffect, useState, type MouseEvent } from 'react';

/** Returns the current path and a function that navigates to another one. */
export function usePath(): [string, (to: string) => void] {
  const [path, setPath] = useState(() => window.location.pathname);

  useEffect(() => {
    const onPop = () => setPath(window.location.pathname);
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);

  const navigate = useCallback((to: string) => {
    if (to !== window.location.pathname) window.history.pushState(null, '', to);
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
