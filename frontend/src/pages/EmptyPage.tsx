import type { ReactNode } from 'react';

interface EmptyPageProps {
  title: string;
  text: string;
  icon?: ReactNode;
  action?: ReactNode;
}

/** A page placeholder: what the page will hold once it has content. */
export function EmptyPage({ title, text, icon, action }: EmptyPageProps) {
  return (
    <section className="empty-state" aria-label={title}>
      <div className="empty-illustration" aria-hidden="true">
        {icon}
      </div>
      <h2>{title}</h2>
      <p>{text}</p>
      {action}
    </section>
  );
}
