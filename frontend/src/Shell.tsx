import { lazy, Suspense, useEffect, useRef, useState, type ReactNode } from 'react';
import type { Session } from './api.ts';
import { linkHandler, usePath } from './router.ts';
import { EmptyPage } from './pages/EmptyPage.tsx';
import { SETTINGS_PATHS, SettingsPage } from './pages/SettingsPage.tsx';
import { JourneysPage } from './pages/JourneysPage.tsx';
import { JourneyEditor } from './journey/JourneyEditor.tsx';
import { CustomerProfilePage, CustomersPage } from './pages/CustomersPage.tsx';
import { AudiencesPage, ImportPage, SegmentEditor } from './pages/AudiencesPage.tsx';
import { TemplateEditor, TemplatesPage } from './pages/TemplatesPage.tsx';

// The results page brings the chart library: load it only when opened.
const JourneyResults = lazy(() => import('./journey/JourneyResults.tsx').then((m) => ({ default: m.JourneyResults })));

interface NavItem {
  path: string;
  label: string;
  icon: ReactNode;
}

const icon = (d: string, size = 18) => (
  <svg viewBox="0 0 24 24" width={size} height={size} aria-hidden="true" focusable="false">
    <path d={d} fill="none" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round" strokeLinejoin="round" />
  </svg>
);

const ICON_PATHS: Record<string, string> = {
  '/journeys': 'M5 6h4v4H5zM15 14h4v4h-4zM9 8h3a2 2 0 0 1 2 2v4a2 2 0 0 0 2 2',
  '/audiences': 'M9 11a3 3 0 1 0 0-6 3 3 0 0 0 0 6zM3 19a6 6 0 0 1 12 0M16 5a3 3 0 0 1 0 6M18 19a6 6 0 0 0-2-4.5',
  '/templates': 'M4 6l8 6 8-6M4 6h16v12H4z',
  '/customers': 'M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8zM4 20a8 8 0 0 1 16 0',
  '/settings': 'M4 7h9M17 7h3M15 5v4M4 17h3M11 17h9M9 15v4',
};

const NAV: NavItem[] = [
  { path: '/journeys', label: 'Journeys', icon: icon(ICON_PATHS['/journeys']) },
  { path: '/audiences', label: 'Audiences', icon: icon(ICON_PATHS['/audiences']) },
  { path: '/templates', label: 'Templates', icon: icon(ICON_PATHS['/templates']) },
  { path: '/customers', label: 'Customers', icon: icon(ICON_PATHS['/customers']) },
  { path: '/settings', label: 'Settings', icon: icon(ICON_PATHS['/settings']) },
];

interface ShellProps {
  session: Session;
  onLogout: () => void;
}

/** The signed-in app frame: sidebar navigation, top bar and the current page. */
export function Shell({ session, onLogout }: ShellProps) {
  const [path, navigate] = usePath();
  const headingRef = useRef<HTMLHeadingElement>(null);
  const [loggingOut, setLoggingOut] = useState(false);

  // "/" and the sign-in URL land on Journeys.
  useEffect(() => {
    if (path === '/' || path === '' || path === '/login') {
      window.history.replaceState(null, '', '/journeys');
      navigate('/journeys');
    }
  }, [path, navigate]);

  const page = pageFor(path, session);
  const shownTitle = useRef(page.title);

  useEffect(() => {
    document.title = `${page.title} · Herald`;
    // Move focus to the new page's heading so keyboard and screen-reader
    // users land on the content after navigating (not on first load).
    if (shownTitle.current !== page.title) {
      shownTitle.current = page.title;
      headingRef.current?.focus();
    }
  }, [page.title]);

  return (
    <div className="app">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <aside className="sidebar">
        <div className="brand">
          <span className="brand-mark" aria-hidden="true">
            H
          </span>
          <span>Herald</span>
        </div>
        <nav aria-label="Main">
          <ul className="nav-list">
            {NAV.map((item) => {
              const active = path === item.path || path.startsWith(item.path + '/');
              return (
                <li key={item.path}>
                  <a
                    href={item.path}
                    className={active ? 'nav-link active' : 'nav-link'}
                    aria-current={active ? 'page' : undefined}
                    onClick={linkHandler(item.path, navigate)}
                  >
                    {item.icon}
                    <span>{item.label}</span>
                  </a>
                </li>
              );
            })}
          </ul>
        </nav>
      </aside>
      <header className="topbar">
        <div className="workspace" aria-label="Workspace">
          <span className="workspace-label">Workspace</span>
          <span className="workspace-name">{session.workspace.name}</span>
        </div>
        <div className="topbar-actions">
          {session.temporal_ui_url && (
            <a className="btn btn-ghost" href={session.temporal_ui_url} target="_blank" rel="noopener noreferrer">
              Temporal UI
              <span aria-hidden="true"> ↗</span>
              <span className="visually-hidden"> (opens in a new tab)</span>
            </a>
          )}
          <span className="user" title={`Role: ${session.role}`}>
            <span className="user-email">{session.user.email}</span>
            <span className="role-badge">{session.role}</span>
          </span>
          <button
            type="button"
            className="btn btn-secondary"
            disabled={loggingOut}
            onClick={() => {
              setLoggingOut(true);
              onLogout();
            }}
          >
            Log out
          </button>
        </div>
      </header>
      <main id="main" className={page.wide ? 'content content-wide' : 'content'}>
        <h1 className="page-title" tabIndex={-1} ref={headingRef}>
          {page.title}
        </h1>
        {page.render(navigate)}
      </main>
    </div>
  );
}

interface Page {
  title: string;
  render: (navigate: (to: string) => void) => ReactNode;
  /** Use the whole width (the journey canvas). */
  wide?: boolean;
}

/** The id in a path such as /journeys/<id>, or '' when the path is not one. */
function idAfter(path: string, prefix: string): string {
  if (!path.startsWith(prefix + '/')) return '';
  const rest = path.slice(prefix.length + 1);
  return rest && !rest.includes('/') ? decodeURIComponent(rest) : '';
}

function pageFor(path: string, session: Session): Page {
  // Viewers read; editors and owners change customers and audiences (the API refuses the rest with 403).
  const canEdit = session.role !== 'viewer';
  const resultsId = path.endsWith('/results') ? idAfter(path.slice(0, -'/results'.length), '/journeys') : '';
  if (resultsId) {
    return {
      title: 'Journey results',
      render: (navigate) => (
        <Suspense
          fallback={
            <p className="list-state" role="status">
              Loading results…
            </p>
          }
        >
          <JourneyResults key={resultsId} id={resultsId} navigate={navigate} />
        </Suspense>
      ),
    };
  }
  if (SETTINGS_PATHS.has(path)) {
    return { title: 'Settings', render: (navigate) => <SettingsPage path={path} session={session} navigate={navigate} /> };
  }
  const journeyId = idAfter(path, '/journeys');
  if (journeyId) {
    return { title: 'Journey', wide: true, render: (navigate) => <JourneyEditor key={journeyId} id={journeyId} navigate={navigate} /> };
  }
  const customerId = idAfter(path, '/customers');
  if (customerId) {
    return { title: 'Customer', render: (navigate) => <CustomerProfilePage key={customerId} id={customerId} navigate={navigate} canErase={canEdit} /> };
  }
  if (path === '/audiences/import') {
    return { title: 'Audiences', render: (navigate) => <ImportPage navigate={navigate} canEdit={canEdit} /> };
  }
  const segmentId = idAfter(path, '/audiences');
  if (segmentId) {
    return { title: 'Audiences', render: (navigate) => <SegmentEditor key={segmentId} id={segmentId} navigate={navigate} canEdit={canEdit} /> };
  }
  const templateId = idAfter(path, '/templates');
  if (templateId) {
    return { title: 'Templates', render: (navigate) => <TemplateEditor key={templateId} id={templateId} navigate={navigate} /> };
  }
  switch (path) {
    case '/':
    case '':
    case '/login':
    case '/journeys':
      return { title: 'Journeys', render: (navigate) => <JourneysPage navigate={navigate} /> };
    case '/audiences':
      return { title: 'Audiences', render: (navigate) => <AudiencesPage navigate={navigate} canEdit={canEdit} /> };
    case '/templates':
      return { title: 'Templates', render: (navigate) => <TemplatesPage navigate={navigate} /> };
    case '/customers':
      return { title: 'Customers', render: (navigate) => <CustomersPage navigate={navigate} /> };
    default:
      return {
        title: 'Page not found',
        render: (navigate) => (
          <EmptyPage
            title="There is nothing at this address"
            text="The link may be out of date."
            action={
              <a href="/journeys" className="btn btn-secondary" onClick={linkHandler('/journeys', navigate)}>
                Go to Journeys
              </a>
            }
          />
        ),
      };
  }
}
