#!/usr/bin/env bash
# The declared `rust-version` against the dependency graph: prints the highest `rust-version`
# among the crates a build of the library compiles (normal and build dependencies, every
# feature on, this host's platform; dev-dependencies left out: users never build them), and
# fails when Cargo.toml declares less. No extra toolchain needed: only `cargo metadata`, and
# node (which the e2e suite needs anyway) to read its JSON.
#
#   scripts/msrv.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

host=$(rustc -vV | sed -n 's/^host: //p')
cargo metadata --format-version 1 --all-features --locked --filter-platform "$host" |
  node -e '
const meta = JSON.parse(require("fs").readFileSync(0, "utf8"));
const byId = new Map(meta.packages.map((p) => [p.id, p]));
const nodes = new Map(meta.resolve.nodes.map((n) => [n.id, n]));
const root = meta.resolve.root;
const version = (v) => (v || "0").split(".").map(Number);
const less = (a, b) => {
  for (let i = 0; i < 3; i++) {
    if ((a[i] || 0) !== (b[i] || 0)) return (a[i] || 0) < (b[i] || 0);
  }
  return false;
};
// Every crate reached from the root by normal or build edges (a dev edge only at the root).
const seen = new Set();
const todo = [root];
while (todo.length) {
  const id = todo.pop();
  for (const dep of nodes.get(id).deps) {
    const used = dep.dep_kinds.some((k) => k.kind === null || k.kind === "build");
    if (used && !seen.has(dep.pkg)) {
      seen.add(dep.pkg);
      todo.push(dep.pkg);
    }
  }
}
let max = { v: [0], who: "none" };
for (const id of seen) {
  const p = byId.get(id);
  if (p.rust_version && less(max.v, version(p.rust_version))) {
    max = { v: version(p.rust_version), who: `${p.name} ${p.version}` };
  }
}
const declared = byId.get(root).rust_version;
console.log(`dependencies need rust ${max.v.join(".")} (${max.who}); Cargo.toml declares ${declared}`);
if (!declared || less(version(declared), max.v)) {
  console.error("scripts/msrv.sh: raise rust-version in Cargo.toml to at least " + max.v.join("."));
  process.exit(1);
}
'
