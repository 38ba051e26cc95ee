import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it } from 'vitest';
import { setCsrfToken, type ChannelSettings } from '../api.ts';
import { ChannelsSettings } from './ChannelsSettings.tsx';
import { json, mockFetch } from '../test/fetchMock.ts';

beforeEach(() => setCsrfToken('csrf-123'));

/** Saved settings as GET /api/channels shows them: secrets masked. */
const saved: ChannelSettings = {
  email: {
    provider: 'ses',
    region: 'eu-west-1',
    access_key_id: 'AKIAEXAMPLE',
    secret_access_key: '****wxyz',
    from: 'Acme <hi@acme.io>',
    frequency_cap: { max: 3, period: '24h' },
  },
  sms: { provider: 'twilio', account_sid: 'AC0123456789abcdef', auth_token: '****9876', from: '+15555550100' },
  webhook: { allow_hosts: ['hooks.internal'] },
};

function form(name: string): HTMLElement {
  return screen.getByRole('form', { name });
}

describe('ChannelsSettings', () => {
  it('shows saved settings and never sends a masked secret back', async () => {
    const { calls } = mockFetch({
      'GET /api/channels': () => json(200, saved),
      'PUT /api/channels': (call) => json(200, { ...saved, ...(call.body as ChannelSettings) }),
    });
    const user = userEvent.setup();
    render(<ChannelsSettings canEdit />);

    const email = within(await screen.findByRole('form', { name: 'Email settings' }));
    expect((email.getByLabelText('Provider') as HTMLSelectElement).value).toBe('ses');
    expect((email.getByLabelText('Region') as HTMLInputElement).value).toBe('eu-west-1');
    const secret = email.getByLabelText('Secret access key') as HTMLInputElement;
    expect(secret.value).toBe('');
    expect(secret.placeholder).toContain('****wxyz');
    expect((email.getByLabelText('Within (period)') as HTMLInputElement).value).toBe('24h');

    await user.click(email.getByRole('button', { name: 'Save email settings' }));
    expect(await email.findByText('Email settings saved.')).toBeTruthy();
    const put = calls.find((c) => c.method === 'PUT');
    expect(put?.body).toEqual({
      email: {
        provider: 'ses',
        region: 'eu-west-1',
        access_key_id: 'AKIAEXAMPLE',
        from: 'Acme <hi@acme.io>',
        frequency_cap: { max: 3, period: '24h' },
      },
    });
    expect(put?.headers['x-csrf-token']).toBe('csrf-123');

    // A typed secret is sent, as typed; the other channels are not named.
    const sms = within(form('SMS settings'));
    await user.type(sms.getByLabelText('Auth token'), 'new-token-value');
    await user.click(sms.getByRole('button', { name: 'Save sms settings' }));
    await sms.findByText('SMS settings saved.');
    const put2 = calls.filter((c) => c.method === 'PUT')[1];
    expect(put2.body).toEqual({
      sms: { provider: 'twilio', account_sid: 'AC0123456789abcdef', auth_token: 'new-token-value', from: '+15555550100' },
    });
  });

  it('shows a field error from the API next to its field', async () => {
    mockFetch({
      'GET /api/channels': () => json(200, saved),
      'PUT /api/channels': () => json(400, { error: 'email.region: "mars" is not an AWS region (like eu-west-1)', field: 'email.region' }),
    });
    const user = userEvent.setup();
    render(<ChannelsSettings canEdit />);

    const email = within(await screen.findByRole('form', { name: 'Email settings' }));
    const region = email.getByLabelText('Region') as HTMLInputElement;
    await user.clear(region);
    await user.type(region, 'mars');
    await user.click(email.getByRole('button', { name: 'Save email settings' }));

    expect(await email.findByText('"mars" is not an AWS region (like eu-west-1)')).toBeTruthy();
    expect(region.getAttribute('aria-invalid')).toBe('true');
    expect(region.getAttribute('aria-describedby')).toContain(email.getByText(/is not an AWS region/).id);
    expect(email.getByRole('alert').textContent).toMatch(/check the highlighted field/i);
  });

  it('shows a webhook allow-list error on the allow-list', async () => {
    mockFetch({
      'GET /api/channels': () => json(200, saved),
      'PUT /api/channels': () => json(400, { error: 'webhook.allow_hosts[1]: "http://x" is not a host name', field: 'webhook.allow_hosts[1]' }),
    });
    const user = userEvent.setup();
    render(<ChannelsSettings canEdit />);
    const webhook = within(await screen.findByRole('form', { name: 'Webhook settings' }));
    const hosts = webhook.getByLabelText('Allowed private hosts') as HTMLTextAreaElement;
    expect(hosts.value).toBe('hooks.internal');
    await user.type(hosts, '{Enter}http://x');
    await user.click(webhook.getByRole('button', { name: 'Save webhook settings' }));
    expect(await webhook.findByText('"http://x" is not a host name')).toBeTruthy();
    expect(hosts.getAttribute('aria-invalid')).toBe('true');
  });

  it('sends only the provider for the outbox', async () => {
    const { calls } = mockFetch({
      'GET /api/channels': () => json(200, saved),
      'PUT /api/channels': () => json(200, { ...saved, email: { provider: 'outbox' } }),
    });
    const user = userEvent.setup();
    render(<ChannelsSettings canEdit />);
    const email = within(await screen.findByRole('form', { name: 'Email settings' }));
    await user.selectOptions(email.getByLabelText('Provider'), 'outbox');
    expect(email.queryByLabelText('Region')).toBeNull();
    await user.clear(email.getByLabelText('At most (messages per customer)'));
    await user.clear(email.getByLabelText('Within (period)'));
    await user.click(email.getByRole('button', { name: 'Save email settings' }));
    await email.findByText('Email settings saved.');
    expect(calls.find((c) => c.method === 'PUT')?.body).toEqual({ email: { provider: 'outbox' } });
  });

  it('tests a channel and shows the provider answer or its refusal', async () => {
    let refuse = false;
    const { calls } = mockFetch({
      'GET /api/channels': () => json(200, saved),
      'POST /api/channels/test': () =>
        refuse ? json(422, { error: 'ses: MessageRejected: Email address is not verified' }) : json(200, { status: 'sent', provider: 'ses', provider_id: 'msg-42' }),
    });
    const user = userEvent.setup();
    render(<ChannelsSettings canEdit />);
    const test = within(await screen.findByRole('form', { name: 'Test email' }));
    await user.type(test.getByLabelText('Test: Email address'), 'me@example.com');
    await user.click(test.getByRole('button', { name: 'Test email' }));
    expect((await test.findByRole('status')).textContent).toBe('Test sent through ses (id msg-42).');
    expect(calls.find((c) => c.path === '/api/channels/test')?.body).toEqual({ channel: 'email', to: 'me@example.com' });

    refuse = true;
    await user.click(test.getByRole('button', { name: 'Test email' }));
    expect((await test.findByRole('alert')).textContent).toContain('Email address is not verified');
  });

  it('is read-only for non-owners', async () => {
    mockFetch({ 'GET /api/channels': () => json(200, saved) });
    render(<ChannelsSettings canEdit={false} canTest={false} />);
    const email = within(await screen.findByRole('form', { name: 'Email settings' }));
    expect(email.getByLabelText('Region').matches(':disabled')).toBe(true);
    expect(email.queryByRole('button', { name: /save/i })).toBeNull();
    expect(screen.queryByRole('form', { name: 'Test email' })).toBeNull();
    expect(screen.getByRole('note').textContent).toMatch(/only workspace owners/i);
  });

  it('shows a load error and retries', async () => {
    let fail = true;
    mockFetch({ 'GET /api/channels': () => (fail ? json(403, { error: 'forbidden' }) : json(200, saved)) });
    render(<ChannelsSettings canEdit />);
    expect((await screen.findByRole('alert')).textContent).toContain('forbidden');
    fail = false;
    await userEvent.setup().click(screen.getByRole('button', { name: 'Try again' }));
    expect(await screen.findByRole('form', { name: 'Email settings' })).toBeTruthy();
  });
});
