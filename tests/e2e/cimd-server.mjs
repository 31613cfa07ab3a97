// The client metadata document of the e2e client identified by URL (Client ID Metadata
// Documents), served over https on 127.0.0.1 with a certificate from a CA made for the run.
//
// The proxy fetches the document itself, through its SSRF guard: the run hands the example
// server the CA (CIMD_EXTRA_ROOT_CERT) and lets it reach a loopback document host
// (CIMD_ALLOW_LOOPBACK=1), both of which a real deployment leaves alone. The document lists the
// client's loopback redirect URI without a port: RFC 8252's loopback rule lets the client pick
// its port at sign-in.
//
// `const docs = await startDocumentServer(dir)`; `docs.url` is the client id
// (`https://localhost:PORT/client.json`), `docs.caPath` the CA's PEM file, `docs.hits` the number
// of fetches so far, `docs.close()` stops it.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';

export const CIMD_CLIENT_NAME = 'actix-mcp-oauth e2e (metadata document)';
export const CIMD_REDIRECT_URI = 'http://127.0.0.1/callback';

/** A CA and a certificate it signed for localhost and 127.0.0.1, made with the openssl CLI. */
function makeCertificates(dir) {
  fs.mkdirSync(dir, { recursive: true });
  const file = (name) => path.join(dir, name);
  const openssl = (...args) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', file('ca.key'), '-out', file('ca.pem'), '-days', '1',
    '-subj', '/CN=actix-mcp-oauth e2e CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign');
  openssl('req', ...ec, '-keyout', file('leaf.key'), '-out', file('leaf.csr'), '-subj', '/CN=localhost');
  fs.writeFileSync(file('leaf.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  openssl('x509', '-req', '-in', file('leaf.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'),
    '-CAcreateserial', '-out', file('leaf.pem'), '-days', '1', '-extfile', file('leaf.ext'));
  return { caPath: file('ca.pem'), key: fs.readFileSync(file('leaf.key')), cert: fs.readFileSync(file('leaf.pem')) };
}

export async function startDocumentServer(dir) {
  const { caPath, key, cert } = makeCertificates(dir);
  let url;
  let hits = 0;
  const server = https.createServer({ key, cert }, (req, res) => {
    if (req.method !== 'GET' || req.url !== '/client.json') {
      res.writeHead(404).end();
      return;
    }
    hits += 1;
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300' });
    res.end(JSON.stringify({
      client_id: url,
      client_name: CIMD_CLIENT_NAME,
      redirect_uris: [CIMD_REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    }));
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  url = `https://localhost:${server.address().port}/client.json`;
  return {
    url,
    caPath,
    get hits() {
      return hits;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
