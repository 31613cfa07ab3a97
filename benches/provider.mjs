// A stand-in identity provider for benches/load.sh, on 127.0.0.1 only, with no dependencies
// beyond Node itself: it makes an RSA-2048 and an Ed25519 key, mints access tokens with them,
// writes the tokens to files, and serves the OpenID discovery document and the JWKS until it is
// killed.
//
//   node benches/provider.mjs PORT OUT_DIR RS256_COUNT EDDSA_COUNT
//
// Writes into OUT_DIR:
//   token.txt     one RS256 token (sub user-0)
//   tokens.txt    RS256_COUNT distinct RS256 tokens (sub user-0 .. user-<n-1>)
//   garbage-distinct.txt  every token of tokens.txt spoiled the same way
//   garbage.txt   token.txt with one character of its signature changed: well-formed, so the
//                 server checks the signature before refusing it
//   churn.txt     EDDSA_COUNT distinct EdDSA tokens (Ed25519 signs fast enough to mint 100 000
//                 in seconds; they serve the memory-under-churn row, not a speed comparison)
// and prints "ready" once it serves. Every token: iss http://127.0.0.1:PORT, aud mcp-bench,
// scope "openid email profile", one hour of validity, the same claims the peers' tokens carry.
import { generateKeyPairSync, sign } from "node:crypto";
import { createServer } from "node:http";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

const [port, out, rsCount, edCount] = process.argv.slice(2);
const PORT = Number(port);
const ISS = `http://127.0.0.1:${PORT}`;
const AUD = "mcp-bench";

const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const ed = generateKeyPairSync("ed25519");
const rsaJwk = { ...rsa.publicKey.export({ format: "jwk" }), kid: "bench-rsa", alg: "RS256", use: "sig" };
const edJwk = { ...ed.publicKey.export({ format: "jwk" }), kid: "bench-ed", alg: "EdDSA", use: "sig" };
const documents = {
  "/jwks.json": JSON.stringify({ keys: [rsaJwk] }),
  "/jwks-all.json": JSON.stringify({ keys: [rsaJwk, edJwk] }),
};
const discovery = JSON.stringify({
  issuer: ISS,
  authorization_endpoint: `${ISS}/authorize`,
  token_endpoint: `${ISS}/token`,
  // The peers read `/jwks.json` (the RSA key alone, as they expect); the example reads the
  // key set named here, with the Ed25519 key too.
  jwks_uri: `${ISS}/jwks-all.json`,
  response_types_supported: ["code"],
  subject_types_supported: ["public"],
  id_token_signing_alg_values_supported: ["RS256", "EdDSA"],
});

const b64 = (v) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");
const now = Math.floor(Date.now() / 1000);

function mint(i, alg) {
  const header = b64({ alg, typ: "JWT", kid: alg === "RS256" ? "bench-rsa" : "bench-ed" });
  const payload = b64({
    iss: ISS,
    aud: AUD,
    sub: `user-${i}`,
    scope: "openid email profile",
    client_id: "bench",
    iat: now,
    exp: now + 3600,
    jti: `jti-${alg}-${i}-${now}`,
  });
  const input = `${header}.${payload}`;
  const signature =
    alg === "RS256"
      ? sign("sha256", Buffer.from(input), rsa.privateKey)
      : sign(null, Buffer.from(input), ed.privateKey);
  return `${input}.${signature.toString("base64url")}`;
}

const tokens = Array.from({ length: Number(rsCount) }, (_, i) => mint(i, "RS256"));
writeFileSync(join(out, "tokens.txt"), tokens.join("\n") + "\n");
writeFileSync(join(out, "token.txt"), tokens[0] + "\n");
// A valid token with one character of its signature changed: well-formed, signature wrong.
const spoil = (token) => {
  const [input, signature] = [token.slice(0, token.lastIndexOf(".")), token.split(".")[2]];
  const mid = Math.floor(signature.length / 2);
  const flipped = signature[mid] === "A" ? "B" : "A";
  return `${input}.${signature.slice(0, mid)}${flipped}${signature.slice(mid + 1)}`;
};
writeFileSync(join(out, "garbage.txt"), spoil(tokens[0]) + "\n");
// Distinct bad-signature tokens, none repeated within a 10 s window at these rates.
writeFileSync(join(out, "garbage-distinct.txt"), tokens.map(spoil).join("\n") + "\n");
const churn = Array.from({ length: Number(edCount) }, (_, i) => mint(i, "EdDSA"));
writeFileSync(join(out, "churn.txt"), churn.join("\n") + "\n");

documents["/.well-known/openid-configuration"] = discovery;
createServer((req, res) => {
  const body = documents[req.url];
  if (body === undefined) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { "content-type": "application/json" }).end(body);
}).listen(PORT, "127.0.0.1", () => console.log("ready"));
