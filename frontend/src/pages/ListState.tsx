// The pieces every list page shares: loading the list once with a retry,
// the loading and error states, and a table whose first cell links to the
// item.
import { useCallback, useEffect, useState, type FormEvent, type ReactNode } from 'react';
import { linkHandler } from '../router.ts';
import { errorText } from '../errors.ts';

export { errorText };

/** Loads a list on mount; `list` is null while loading, `load` tries again. */
export function useList<T>(fetchList: () => Promise<T[]>) {
  const [list, setList] = useState<T[] | null>(null);
  const [error, setError] = useState('');

  const load = useCallback(async () => {
    setError('');
    try {
      setList(await fetchList());
    } catch (err) {
      setError(errorText(err));
    }
  }, [fetchList]);

  useEffect(() => {
    void load();
  }, [load]);

  return { list, setList, error, load };
}

/** A list that could not be loaded, with a Try again button. */
export function ListError({ message, onRetry }: { message: string; onRetry: () => void }) {
  return (
    <div className="list-state list-error" role="alert">
      <p>{message}</p>
      <button type="button" className="btn btn-secondary" onClick={onRetry}>
        Try again
      </button>
    </div>
  );
}

/** “Loading <what>…” while a list loads. */
export function ListLoading({ what }: { what: string }) {
  return (
    <p className="list-state" role="status">
      Loading {what}…
    </p>
  );
}

/** A table in a panel with the given column headers; rows are the children. */
export function ListTable({ columns, children, footer }: { columns: string[]; children: ReactNode; footer?: ReactNode }) {
  return (
    <div className="panel table-wrap">
      <table className="table">
        <thead>
          <tr>
            {columns.map((c) => (
              <th key={c} scope="col">
                {c}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
      {footer}
    </div>
  );
}

/** A row header that links to the item's page within the app. */
export function RowLink({ to, navigate, children }: { to: string; navigate: (to: string) => void; children: ReactNode }) {
  return (
    <th scope="row">
      <a href={to} onClick={linkHandler(to, navigate)}>
        {children}
      </a>
    </th>
  );
}

/** The “← Section” link back to a list from one of its items. */
export function BackLink({ to, label, navigate }: { to: string; label: string; navigate: (to: string) => void }) {
  return (
    <a href={to} className="btn btn-ghost btn-small" onClick={linkHandler(to, navigate)}>
      ← {label}
    </a>
  );
}

/** An item that could not be loaded, under the link back to its list. */
export function LoadFailed({ back, message }: { back: ReactNode; message: string }) {
  return (
    <div className="page-stack">
      {back}
      <p className="list-state list-error" role="alert">
        {message}
      </p>
    </div>
  );
}

interface CreateFormProps {
  /** The form's accessible name, e.g. "New journey". */
  label: string;
  submitLabel: string;
  canSubmit: boolean;
  error: string;
  onSubmit: (e: FormEvent) => void;
  /** The fields, in one row before the submit button. */
  children: ReactNode;
}

/** The small form above a list that creates an item. */
export function CreateForm({ label, submitLabel, canSubmit, error, onSubmit, children }: CreateFormProps) {
  return (
    <form className="panel create-form" aria-label={label} onSubmit={onSubmit}>
      <div className="create-key-row">
        {children}
        <button type="submit" className="btn btn-primary" disabled={!canSubmit}>
          {submitLabel}
        </button>
      </div>
      {error && (
        <p className="error-text" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}
