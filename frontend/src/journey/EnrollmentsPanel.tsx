// The entry of a segment's existing members into a journey (a segment
// trigger with include_existing): progress, rate and time left, refreshed
// while it runs, with Cancel.
import { useCallback, useEffect, useState } from 'react';
import * as api from '../api.ts';
import type { Enrollment } from '../api.ts';
import { ProgressBar } from '../ProgressBar.tsx';
import { errorText } from '../pages/ListState.tsx';

const REFRESH_MS = 2000;

/** Seconds as "2 h 5 min", "3 min 20 s" or "45 s". */
export function formatDuration(secs: number): string {
  const s = Math.max(0, Math.round(secs));
  if (s >= 3600) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  if (s >= 60) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${s} s`;
}

/** Handled (entered or skipped) of total, 0–100. */
export function enrollmentPercent(e: Enrollment): number {
  if (e.total <= 0) return e.status === 'completed' ? 100 : 0;
  return Math.min(100, Math.floor(((e.enrolled + e.skipped) * 1000) / e.total) / 10);
}

export function EnrollmentsPanel({ journeyId }: { journeyId: string }) {
  const [list, setList] = useState<Enrollment[] | null>(null);
  const [error, setError] = useState('');
  const [cancelling, setCancelling] = useState('');

  const load = useCallback(async () => {
    try {
      setList(await api.journeyEnrollments(journeyId));
      setError('');
    } catch (err) {
      setError(errorText(err));
    }
  }, [journeyId]);

  const running = !!list?.some((e) => e.status === 'running');
  useEffect(() => {
    void load();
  }, [load]);
  useEffect(() => {
    if (!running) return;
    const t = setInterval(() => void load(), REFRESH_MS);
    return () => clearInterval(t);
  }, [running, load]);

  const cancel = async (e: Enrollment) => {
    setCancelling(e.id);
    try {
      await api.cancelEnrollment(journeyId, e.id);
      await load();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setCancelling('');
    }
  };

  if (!list || (list.length === 0 && !error)) return null;
  return (
    <section className="panel enrollments" aria-label="Enrollment of existing members">
      <h3 className="side-sub">Existing segment members entering</h3>
      {error && (
        <p className="error-text" role="alert">
          {error}
        </p>
      )}
      {list.slice(0, 3).map((e) => (
        <div key={e.id} className="enrollment" data-testid="enrollment">
          <div className="progress-head">
            <span className={`badge status-badge status-${e.status}`}>{e.status}</span>
            <span>
              {e.enrolled.toLocaleString('en-US')} entered · {e.skipped.toLocaleString('en-US')} skipped of {e.total.toLocaleString('en-US')} ({enrollmentPercent(e)}%)
              {e.status === 'running' && e.per_second > 0 && ` · ${e.per_second.toFixed(1)}/s`}
              {e.status === 'running' && e.eta_seconds !== null && ` · about ${formatDuration(e.eta_seconds)} left`}
            </span>
            {e.status === 'running' && (
              <button type="button" className="btn btn-danger-ghost btn-small" onClick={() => void cancel(e)} disabled={cancelling === e.id}>
                {cancelling === e.id ? 'Cancelling…' : 'Cancel enrollment'}
              </button>
            )}
          </div>
          <ProgressBar label="Enrollment progress" percent={enrollmentPercent(e)} />
          {e.error && <p className="error-text">{e.error}</p>}
        </div>
      ))}
    </section>
  );
}
