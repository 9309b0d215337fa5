// The graphql-http audit suite (https://github.com/graphql/graphql-http, `auditServer`) against a live server.
//
// Usage: [GRAPHQL_AUDIT_KEY=<api key>] node tests/e2e/graphql_http_audit.mjs http://127.0.0.1:8000/graphql
// With GRAPHQL_AUDIT_KEY every audit request carries `Authorization: Bearer <key>`: some audits query
// `__type(name: $name)`, and crosstrace turns introspection off for anonymous callers (issue 6, limits).
// Installs `graphql-http` (and its peer `graphql`) with `npm install --no-save` into a fresh temp folder, runs
// every audit, prints one line per audit that is not ok, then the result line `N passed, N failed`, where
// "failed" counts MUST and SHOULD audits that did not pass (MAY audits that did not pass are listed as notices
// and counted apart). Exit status: 0 when nothing failed, 1 when an audit failed, 2 on a setup error.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const url = process.argv[2];
if (!url) {
  console.error('usage: node graphql_http_audit.mjs <graphql endpoint url>');
  process.exit(2);
}

const folder = mkdtempSync(join(tmpdir(), 'graphql-http-audit-'));
try {
  execFileSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--prefix', folder, 'graphql-http',
    'graphql'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const entry = join(folder, 'node_modules', 'graphql-http', 'lib', 'index.mjs');
  const { auditServer } = await import(pathToFileURL(entry).href);
  const key = process.env.GRAPHQL_AUDIT_KEY;
  const fetchFn = key
    ? (input, init = {}) => {
        const headers = new Headers(init.headers);
        headers.set('authorization', `Bearer ${key}`);
        return fetch(input, { ...init, headers });
      }
    : fetch;
  const results = await auditServer({ url, fetchFn });
  let passed = 0;
  let failed = 0;
  let notices = 0;
  for (const result of results) {
    if (result.status === 'ok') {
      passed += 1;
      continue;
    }
    let body = '';
    try {
      body = await result.response.text();
    } catch {
      body = '<body already read>';
    }
    const line = `${result.status.toUpperCase()} ${result.id} ${result.name}: ${result.reason} ` +
      `(status ${result.response.status}, body ${body.slice(0, 200)})`;
    if (result.status === 'notice') {
      notices += 1;
      console.log(`notice: ${line}`);
    } else {
      failed += 1;
      console.log(line);
    }
  }
  console.log(`MAY audits not passed (notices): ${notices}`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed === 0 ? 0 : 1;
} catch (error) {
  console.error(`audit setup failed: ${error}${error.stderr ? `\n${error.stderr}` : ''}`);
  process.exitCode = 2;
} finally {
  rmSync(folder, { recursive: true, force: true });
}
