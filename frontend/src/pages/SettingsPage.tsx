import type { Session } from '../api.ts';
import { linkHandler } from '../router.ts';
import { ApiKeys } from './ApiKeys.tsx';
import { ChannelsSettings } from './ChannelsSettings.tsx';
import { TeamSettings } from './TeamSettings.tsx';
import { WorkspaceSettings } from './WorkspaceSettings.tsx';

interface SettingsPageProps {
  /** The settings path: /settings, /settings/api-keys, /settings/channels, … */
  path: string;
  session: Session;
  navigate: (to: string) => void;
}

const SECTIONS = [
  { path: '/settings/api-keys', label: 'API keys' },
  { path: '/settings/channels', label: 'Channels' },
  { path: '/settings/workspace', label: 'Workspace' },
  { path: '/settings/team', label: 'Team' },
];

/** The settings paths this page answers (anything else is "not found"). */
export const SETTINGS_PATHS = new Set(['/settings', '/settings/', ...SECTIONS.map((s) => s.path)]);

/** Workspace settings: API keys, delivery channels, workspace defaults and team. */
export function SettingsPage({ path, session, navigate }: SettingsPageProps) {
  const current = SECTIONS.some((s) => s.path === path) ? path : '/settings/api-keys';
  const owner = session.role === 'owner';
  return (
    <div className="settings">
      <nav aria-label="Settings" className="subnav">
        {SECTIONS.map((s) => (
          <a
            key={s.path}
            href={s.path}
            className={s.path === current ? 'subnav-link active' : 'subnav-link'}
            aria-current={s.path === current ? 'page' : undefined}
            onClick={linkHandler(s.path, navigate)}
          >
            {s.label}
          </a>
        ))}
      </nav>
      {current === '/settings/api-keys' && <ApiKeys />}
      {current === '/settings/channels' && <ChannelsSettings canEdit={owner} canTest={owner} />}
      {current === '/settings/workspace' && <WorkspaceSettings canEdit={owner} />}
      {current === '/settings/team' && <TeamSettings session={session} />}
    </div>
  );
}
