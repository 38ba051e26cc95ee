import { useCallback, useEffect, useId, useState } from 'react';
import { Bar, BarChart, CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import * as api from '../api.ts';
import type { Journey, SeriesInterval, SeriesPoint } from '../api.ts';
import { linkHandler } from '../router.ts';
import { errorText } from '../errors.ts';

/** How many buckets each interval shows: 30 days or 48 hours. */
const POINTS: Record<SeriesInterval, number> = { day: 30, hour: 48 };

type Metric = Exclude<keyof SeriesPoint, 't'>;

const LABEL: Record<Metric, string> = {
  entries: 'Entries',
  completed: 'Completed',
  conversions: 'Conversions',
  sent: 'Sent',
  delivered: 'Delivered',
  opened: 'Opened',
  clicked: 'Clicked',
  bounced: 'Bounced',
  failed: 'Failed',
  suppressed: 'Suppressed',
};

// Colours with enough contrast on white, told apart by dash pattern too.
const COLOR: Record<Metric, string> = {
  entries: '#3b5bdb',
  completed: '#5b6471',
  conversions: '#2b8a3e',
  sent: '#3b5bdb',
  delivered: '#1971c2',
  opened: '#2b8a3e',
  clicked: '#7048e8',
  bounced: '#c92a2a',
  failed: '#e8590c',
  suppressed: '#868e96',
};

const JOURNEY_METRICS: Metric[] = ['entries', 'completed', 'conversions'];
const DELIVERY_METRICS: Metric[] = ['sent', 'delivered', 'opened', 'clicked', 'bounced', 'failed', 'suppressed'];
const DASH = ['', '6 3', '2 3', '8 3 2 3', '', '6 3', '2 3'];


/** A bucket's label, in the time zone the buckets are aligned to (the browser's when unknown). */
function bucketLabel(iso: string, interval: SeriesInterval, timeZone?: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const opts: Intl.DateTimeFormatOptions =
    interval === 'day' ? { month: 'short', day: 'numeric' } : { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' };
  try {
    return d.toLocaleString(undefined, { ...opts, timeZone });
  } catch {
    return d.toLocaleString(undefined, opts);
  }
}

function percent(part: number, whole: number): string {
  return whole > 0 ? `${Math.round((part / whole) * 1000) / 10}%` : '—';
}

type SeriesState =
  | { kind: 'loading' }
  | { kind: 'error'; message: string }
  | { kind: 'ready'; interval: SeriesInterval; timezone?: string; points: SeriesPoint[] };

/** A journey's results over time: entries, conversions and the delivery funnel, by day or hour. */
export function JourneyResults({ id, navigate }: { id: string; navigate: (to: string) => void }) {
  const [journey, setJourney] = useState<Journey | null>(null);
  const [interval, setInterval] = useState<SeriesInterval>('day');
  const [series, setSeries] = useState<SeriesState>({ kind: 'loading' });
  const [refreshing, setRefreshing] = useState(false);

  useEffect(() => {
    let stop = false;
    api
      .getJourney(id)
      .then((j) => !stop && setJourney(j))
      .catch(() => {
        // The series call reports a missing journey; the name is a nicety.
      });
    return () => {
      stop = true;
    };
  }, [id]);

  const load = useCallback(
    async (iv: SeriesInterval, showLoading: boolean, isCurrent: () => boolean = () => true) => {
      if (showLoading) setSeries({ kind: 'loading' });
      try {
        const s = await api.journeySeries(id, iv, POINTS[iv]);
        if (isCurrent()) setSeries({ kind: 'ready', interval: iv, timezone: s.timezone, points: s.points ?? [] });
      } catch (err) {
        if (isCurrent()) setSeries({ kind: 'error', message: errorText(err) });
      }
    },
    [id],
  );

  useEffect(() => {
    let current = true;
    void load(interval, true, () => current);
    return () => {
      current = false;
    };
  }, [interval, load]);

  const editorPath = `/journeys/${encodeURIComponent(id)}`;
  const totals = series.kind === 'ready' ? sum(series.points) : null;

  return (
    <div className="page-stack results">
      <div className="editor-bar">
        <a href={editorPath} className="btn btn-ghost btn-small" onClick={linkHandler(editorPath, navigate)}>
          ← Canvas
        </a>
        <h2 className="editor-title">{journey ? journey.name : 'Journey'}</h2>
        {journey && (
          <span className={`badge status-badge status-${journey.status}`}>
            {journey.status}
            {journey.live_version ? ` · v${journey.live_version}` : ''}
          </span>
        )}
        <div className="editor-actions">
          <div className="segmented" role="group" aria-label="Interval">
            {(['day', 'hour'] as const).map((iv) => (
              <button
                key={iv}
                type="button"
                className={interval === iv ? 'btn btn-small btn-primary' : 'btn btn-small btn-secondary'}
                aria-pressed={interval === iv}
                onClick={() => setInterval(iv)}
              >
                {iv === 'day' ? 'By day (30 days)' : 'By hour (48 hours)'}
              </button>
            ))}
          </div>
          <button
            type="button"
            className="btn btn-ghost btn-small"
            disabled={refreshing || series.kind === 'loading'}
            onClick={() => {
              setRefreshing(true);
              void load(interval, false).finally(() => setRefreshing(false));
            }}
          >
            Refresh
          </button>
        </div>
      </div>

      {series.kind === 'loading' && (
        <p className="list-state" role="status">
          Loading results…
        </p>
      )}
      {series.kind === 'error' && (
        <div className="list-state list-error">
          <p role="alert">Could not load results: {series.message}</p>
          <button type="button" className="btn btn-secondary" onClick={() => void load(interval, true)}>
            Try again
          </button>
        </div>
      )}
      {series.kind === 'ready' && totals && (
        <>
          <section className="panel" aria-labelledby="totals-heading">
            <h3 id="totals-heading" className="side-sub">
              Totals over the last {series.interval === 'day' ? '30 days' : '48 hours'}
            </h3>
            {series.timezone && <p className="muted small">Times in {series.timezone} (the workspace time zone).</p>}
            <dl className="totals" data-testid="totals">
              {(Object.keys(LABEL) as Metric[]).map((m) => (
                <div key={m} className="total">
                  <dt>{LABEL[m]}</dt>
                  <dd data-metric={m}>{totals[m].toLocaleString()}</dd>
                </div>
              ))}
              <div className="total">
                <dt>Conversion rate</dt>
                <dd data-metric="conversion_rate">{percent(totals.conversions, totals.entries)}</dd>
              </div>
            </dl>
          </section>
          {totals.entries === 0 && totals.sent === 0 ? (
            <div className="list-state">
              <p className="list-empty-title">No activity in this period</p>
              <p className="muted">Entries, conversions and sends appear here once customers enter the journey.</p>
            </div>
          ) : (
            <div className="results-grid">
              <Chart title="Entries and conversions" interval={series.interval} timezone={series.timezone} points={series.points} metrics={JOURNEY_METRICS} />
              <Chart title="Deliveries" interval={series.interval} timezone={series.timezone} points={series.points} metrics={DELIVERY_METRICS} />
              <FunnelChart totals={totals} />
            </div>
          )}
        </>
      )}
    </div>
  );
}

function sum(points: SeriesPoint[]): Record<Metric, number> {
  const out = Object.fromEntries((Object.keys(LABEL) as Metric[]).map((m) => [m, 0])) as Record<Metric, number>;
  for (const p of points) for (const m of Object.keys(out) as Metric[]) out[m] += p[m] ?? 0;
  return out;
}

interface ChartProps {
  title: string;
  interval: SeriesInterval;
  timezone?: string;
  points: SeriesPoint[];
  metrics: Metric[];
}

function Chart({ title, interval, timezone, points, metrics }: ChartProps) {
  const data = points.map((p) => ({ ...p, label: bucketLabel(p.t, interval, timezone) }));
  const captionId = useId();
  return (
    <figure className="panel chart" aria-labelledby={captionId}>
      <figcaption id={captionId} className="side-sub">
        {title}
      </figcaption>
      <div className="chart-box" aria-hidden="true">
        <ResponsiveContainer width="100%" height="100%" initialDimension={{ width: 520, height: 220 }}>
          <LineChart data={data} margin={{ top: 8, right: 16, bottom: 0, left: 0 }}>
            <CartesianGrid strokeDasharray="3 3" stroke="#dfe3e8" />
            <XAxis dataKey="label" tick={{ fontSize: 12 }} minTickGap={16} />
            <YAxis allowDecimals={false} tick={{ fontSize: 12 }} width={40} />
            <Tooltip />
            <Legend />
            {metrics.map((m, i) => (
              <Line key={m} type="monotone" dataKey={m} name={LABEL[m]} stroke={COLOR[m]} strokeDasharray={DASH[i]} dot={false} strokeWidth={2} isAnimationActive={false} />
            ))}
          </LineChart>
        </ResponsiveContainer>
      </div>
      <details className="chart-table">
        <summary>Show as a table</summary>
        <div className="table-wrap">
          <table className="table">
            <caption className="visually-hidden">{title}</caption>
            <thead>
              <tr>
                <th scope="col">{interval === 'day' ? 'Day' : 'Hour'}</th>
                {metrics.map((m) => (
                  <th key={m} scope="col">
                    {LABEL[m]}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {data.map((p) => (
                <tr key={p.t}>
                  <th scope="row">
                    <time dateTime={p.t}>{p.label}</time>
                  </th>
                  {metrics.map((m) => (
                    <td key={m}>{p[m]}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </details>
    </figure>
  );
}

function FunnelChart({ totals }: { totals: Record<Metric, number> }) {
  const steps: Metric[] = ['sent', 'delivered', 'opened', 'clicked'];
  const data = steps.map((m) => ({ name: LABEL[m], count: totals[m] }));
  const captionId = useId();
  return (
    <figure className="panel chart" aria-labelledby={captionId}>
      <figcaption id={captionId} className="side-sub">
        Delivery funnel
      </figcaption>
      <div className="chart-box" aria-hidden="true">
        <ResponsiveContainer width="100%" height="100%" initialDimension={{ width: 520, height: 220 }}>
          <BarChart data={data} layout="vertical" margin={{ top: 8, right: 24, bottom: 0, left: 8 }}>
            <CartesianGrid strokeDasharray="3 3" stroke="#dfe3e8" />
            <XAxis type="number" allowDecimals={false} tick={{ fontSize: 12 }} />
            <YAxis type="category" dataKey="name" tick={{ fontSize: 12 }} width={72} />
            <Tooltip />
            <Bar dataKey="count" name="Messages" fill="#3b5bdb" isAnimationActive={false} />
          </BarChart>
        </ResponsiveContainer>
      </div>
      <ul className="funnel-list">
        {steps.map((m, i) => (
          <li key={m}>
            {LABEL[m]}: <strong>{totals[m].toLocaleString()}</strong>
            {i > 0 && <span className="muted"> ({percent(totals[m], totals.sent)} of sent)</span>}
          </li>
        ))}
        <li>
          Not delivered: <strong>{(totals.bounced + totals.failed + totals.suppressed).toLocaleString()}</strong>
          <span className="muted">
            {' '}
            (bounced {totals.bounced}, failed {totals.failed}, suppressed {totals.suppressed})
          </span>
        </li>
      </ul>
    </figure>
  );
}
