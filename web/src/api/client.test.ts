import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiClient, ApiError } from './client';

/** The client with the page's own token 'read-token', and the requests it made. */
function clientAnswering(...answers: Response[]) {
  const fetch = vi.fn(async (_url: string, _init: RequestInit) => answers.shift()!);
  vi.stubGlobal('fetch', fetch);
  const onUnauthorized = vi.fn();
  const client = new ApiClient('https://api.example.com', () => 'read-token', onUnauthorized);
  const sent = () =>
    fetch.mock.calls.map(([url, init]) => ({
      url,
      method: init.method,
      authorization: (init.headers as Record<string, string>).Authorization,
    }));
  return { client, sent, onUnauthorized };
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('the alert rules calls', () => {
  it('list the rules with the admin token given, and check the answer', async () => {
    const { client, sent } = clientAnswering(json(200, { version: 2, rules: [] }), json(200, { rules: [] }));
    expect(await client.alertRules('admin-token')).toEqual({ version: 2, rules: [] });
    await expect(client.alertRules(null)).rejects.toThrow('version is missing');
    expect(sent()).toEqual([
      { url: 'https://api.example.com/v1/alert-rules', method: 'GET', authorization: 'Bearer admin-token' },
      { url: 'https://api.example.com/v1/alert-rules', method: 'GET', authorization: 'Bearer read-token' },
    ]);
  });

  it('delete a rule by its name, taking 204 without a body', async () => {
    const { client, sent } = clientAnswering(new Response(null, { status: 204 }));
    await expect(client.deleteAlertRule('too hot/1', 'admin-token')).resolves.toBeUndefined();
    expect(sent()).toEqual([
      {
        url: 'https://api.example.com/v1/alert-rules/too%20hot%2F1',
        method: 'DELETE',
        authorization: 'Bearer admin-token',
      },
    ]);
  });

  it("turn the server's refusal into an ApiError with its code and message", async () => {
    const { client, onUnauthorized } = clientAnswering(
      json(404, { error: { code: 'not_found', message: 'no alert rule named too-hot' } }),
      json(403, { error: { code: 'forbidden', message: 'needs the admin token' } }),
      new Response('Not Found', { status: 404, statusText: 'Not Found' }),
      json(401, { error: { code: 'unauthorized', message: 'unknown token' } }),
    );
    const deleted = client.deleteAlertRule('too-hot', 'admin-token');
    await expect(deleted).rejects.toEqual(new ApiError(404, 'not_found', 'no alert rule named too-hot'));
    await expect(client.alertRules(null)).rejects.toMatchObject({ status: 403, code: 'forbidden' });
    // An older server, without the rules API, answers a bare 404.
    await expect(client.alertRules(null)).rejects.toMatchObject({ status: 404, code: 'http_error' });
    // A refused admin token is the caller's to handle: it says nothing about the page's own.
    await expect(client.alertRules('admin-token')).rejects.toMatchObject({ status: 401 });
    expect(onUnauthorized).not.toHaveBeenCalled();
  });
});
