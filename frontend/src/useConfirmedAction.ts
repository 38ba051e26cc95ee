import { useState } from 'react';
import { errorText } from './errors.ts';

// useConfirmedAction holds the state of "ask, then do" actions on one item
// (revoke a key, remove a member): the item waiting for confirmation, the
// call in flight and its error. act runs on confirm; the dialog closes
// when it succeeds and shows the error when it fails.
export function useConfirmedAction<T>(act: (item: T) => Promise<void>) {
  const [target, setTarget] = useState<T | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');

  function ask(item: T) {
    setError('');
    setTarget(item);
  }

  async function confirm() {
    if (!target) return;
    setBusy(true);
    setError('');
    try {
      await act(target);
      setTarget(null);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  }

  return { target, busy, error, ask, confirm, cancel: () => setTarget(null) };
}
