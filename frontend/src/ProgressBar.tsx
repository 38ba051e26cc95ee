// A progress bar with its value for assistive technology (imports, enrollments).

/** A labelled progress bar, 0–100. */
export function ProgressBar({ label, percent }: { label: string; percent: number }) {
  const p = Math.max(0, Math.min(100, percent));
  return (
    <div className="progress" role="progressbar" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={p}>
      <div className="progress-fill" style={{ width: `${p}%` }} />
    </div>
  );
}
