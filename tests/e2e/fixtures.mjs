// The one test user of the local OpenID provider, shared by the provider and the clients that
// assert on what the MCP server's `whoami` tool answers.

export const TEST_USER = Object.freeze({
  sub: 'e2e-user-7f3a9c',
  email: 'ada.lovelace@example.test',
  email_verified: true,
  name: 'Ada Lovelace',
  picture: 'https://example.test/avatars/ada.png',
});

// Defaults used when the environment does not say otherwise (the same variable names as the
// example MCP server reads, so one environment drives both).
export const DEFAULT_CLIENT_ID = 'e2e-static-client';
export const DEFAULT_CLIENT_SECRET = 'e2e-static-client-secret-not-for-production';

// Bounds every script uses so that nothing hangs.
export const STEP_TIMEOUT_MS = 15_000;
