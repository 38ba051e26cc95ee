import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { Login } from './Login.tsx';
import { json, mockFetch } from './test/fetchMock.ts';
import { session } from './test/fixtures.ts';

async function fillAndSubmit(email: string, password: string) {
  const user = userEvent.setup();
  await user.type(screen.getByLabelText('Email'), email);
  await user.type(screen.getByLabelText('Password'), password);
  await user.click(screen.getByRole('button', { name: 'Sign in' }));
}

describe('Login', () => {
  it('posts the credentials as JSON and hands the session to onLogin', async () => {
    const { calls } = mockFetch({ 'POST /api/login': () => json(200, session) });
    const onLogin = vi.fn();
    render(<Login onLogin={onLogin} />);

    await fillAndSubmit('ada@example.com', 'correct horse');

    await vi.waitFor(() => expect(onLogin).toHaveBeenCalledWith(session));
    expect(calls).toHaveLength(1);
    expect(calls[0].body).toEqual({ email: 'ada@example.com', password: 'correct horse' });
    expect(calls[0].headers['content-type']).toBe('application/json');
    expect(calls[0].credentials).toBe('same-origin');
    expect(screen.queryByRole('alert')).toBeNull();
  });

  it('shows the server error inline on 401 and stays on the form', async () => {
    mockFetch({ 'POST /api/login': () => json(401, { error: 'invalid email or password' }) });
    const onLogin = vi.fn();
    render(<Login onLogin={onLogin} />);

    await fillAndSubmit('ada@example.com', 'wrong');

    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toBe('invalid email or password');
    expect(onLogin).not.toHaveBeenCalled();
    expect((screen.getByRole('button', { name: 'Sign in' }) as HTMLButtonElement).disabled).toBe(false);
    expect((screen.getByLabelText('Password') as HTMLInputElement).value).toBe('wrong');
  });

  it('explains a network failure', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => Promise.reject(new TypeError('Failed to fetch'))));
    render(<Login onLogin={vi.fn()} />);

    await fillAndSubmit('ada@example.com', 'pw');

    expect((await screen.findByRole('alert')).textContent).toMatch(/could not reach the herald server/i);
  });
});
