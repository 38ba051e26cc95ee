import { linkHandler } from '../router.ts';
import { ApiKeys } from './ApiKeys.tsx';

interface SettingsPageProps {
  navigate: (to: string) => void;
}

/** Workspace settings; API keys is the only section so far. */
export function SettingsPage({ navigate }: SettingsPageProps) {
  return (
    <div className="settings">
      <nav aria-label="Settings" className="subnav">
        <a
          href="/settings/api-keys"
          className="subnav-link active"
          aria-current="page"
          onClick={linkHandler('/settings/api-keys', navigate)}
        >
          API keys
        </a>
      </nav>
      <ApiKeys />
    </div>
  );
}
