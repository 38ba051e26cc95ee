import { useCallback, useEffect, useState } from 'react';
import * as api from './api.ts';
import type { Session } from './api.ts';
import { Login } from './Login.tsx';
import { Shell } from './Shell.tsx';
import { errorText } from './errors.ts';

type State =
  | { kind: 'loading' }
  | { kind: 'error'; message: string }
  | { kind: 'signed-out'; notice?: string }
  | { kind: 'signed-in'; session: Session };

/** Root component: asks /api/me who is signed in, then shows Login or the app frame. */
export function App() {
  const [state, setState] = useState<State>({ kind: 'loading' });

  const load = useCallback(async () => {
    setState({ kind: 'loading' });
    try {
      const session = await api.me();
      setState(session ? { kind: 'signed-in', session } : { kind: 'signed-out' });
    } catch (err) {
      setState({ kind: 'error', message: errorText(err) });
    }
  }, []);

  useEffect(() => {
    void load();
  }, [load]);

  useEffect(() => {
    api.setUnauthorizedHandler(() =>
      setState({ kind: 'signed-out', notice: 'Your session has ended. Please sign in again.' }),
    );
    return () => api.setUnauthorizedHandler(null);
  }, []);

  const onLogout = useCallback(async () => {
    try {
      await api.logout();
    } finally {
      // Even if the server call failed, drop the local session view.
      setState({ kind: 'signed-out' });
    }
  }, []);

  switch (state.kind) {
    case 'loading':
      return (
        <div className="center-screen" role="status">
          Loading…
        </div>
      );
    case 'error':
      return (
        <div className="center-screen">
          <div className="card narrow">
            <h1 className="card-title">Herald is not reachable</h1>
            <p role="alert" className="error-text">
              {state.message}
            </p>
            <button type="button" className="btn btn-primary" onClick={() => void load()}>
              Try again
            </button>
          </div>
        </div>
      );
    case 'signed-out':
      return (
        <Login
          notice={state.notice}
          onLogin={(session) => setState({ kind: 'signed-in', session })}
        />
      );
    case 'signed-in':
      return <Shell session={state.session} onLogout={onLogout} />;
  }
}
