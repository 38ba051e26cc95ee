import { useId, useState, type FormEvent } from 'react';
import * as api from './api.ts';
import type { Session } from './api.ts';
import { errorText } from './errors.ts';

interface LoginProps {
  /** Called with the new session after a successful sign-in. */
  onLogin: (session: Session) => void;
  /** An informational message shown above the form (e.g. session expired). */
  notice?: string;
}

/** The sign-in screen: email and password, errors shown inline. */
export function Login({ onLogin, notice }: LoginProps) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const errorId = useId();

  async function onSubmit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    setError('');
    setBusy(true);
    try {
      const session = await api.login(email.trim(), password);
      onLogin(session);
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  }

  return (
    <main className="login-screen">
      <div className="card login-card">
        <div className="brand brand-large" aria-hidden="true">
          <span className="brand-mark">H</span>
          <span>Herald</span>
        </div>
        <h1 className="card-title">Sign in to Herald</h1>
        {notice && !error && (
          <p className="notice" role="status">
            {notice}
          </p>
        )}
        <form onSubmit={onSubmit} aria-describedby={error ? errorId : undefined}>
          <label className="field">
            <span className="field-label">Email</span>
            <input
              type="email"
              name="email"
              autoComplete="username"
              required
              autoFocus
              value={email}
              onChange={(e) => setEmail(e.target.value)}
            />
          </label>
          <label className="field">
            <span className="field-label">Password</span>
            <input
              type="password"
              name="password"
              autoComplete="current-password"
              required
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
          </label>
          {error && (
            <p id={errorId} className="error-text" role="alert">
              {error}
            </p>
          )}
          <button type="submit" className="btn btn-primary btn-block" disabled={busy}>
            {busy ? 'Signing in…' : 'Sign in'}
          </button>
        </form>
      </div>
    </main>
  );
}
