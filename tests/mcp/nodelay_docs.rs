//! Every server a user may copy (the examples, the README, the guides in `docs/`, the crate's
//! rustdoc snippets) sets `tcp_nodelay(true)`: without it a streamed (SSE) answer on a
//! kept-alive connection waits about 40 ms for the client's delayed ACK (`keep_alive.rs`).
//!
//! A text check, not a compile check: each `HttpServer::new(` must be followed, after its
//! closure and within the same statement (up to the next `;`), by `.tcp_nodelay(true)`, and by
//! it before a `.bind`, `.listen` or `.run` of that statement.

use std::{
    fs,
    path::{Path, PathBuf},
};

const CALL: &str = "HttpServer::new(";

/// The places in `text` where a server is built without `.tcp_nodelay(true)`, as line numbers,
/// with a reason each.
fn servers_without_nodelay(text: &str) -> Vec<(usize, &'static str)> {
    let line_of = |at: usize| text[..at].matches('\n').count() + 1;
    let mut found = Vec::new();
    for (at, _) in text.match_indices(CALL) {
        // The end of the closure: the parenthesis that closes `HttpServer::new(`.
        let mut depth = 1usize;
        let after = at + CALL.len();
        let close = text[after..].char_indices().find_map(|(i, c)| {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            (depth == 0).then_some(after + i + 1)
        });
        let Some(close) = close else {
            found.push((line_of(at), "its parentheses do not close"));
            continue;
        };
        // The builder chain ends with its statement: a setting further on belongs to
        // something else (another server, another statement).
        let rest = &text[close..];
        let chain = &rest[..rest.find(';').unwrap_or(rest.len())];
        let listens = [".bind", ".listen", ".run("]
            .iter()
            .filter_map(|m| chain.find(m))
            .min()
            .unwrap_or(chain.len());
        if !chain[..listens].contains(".tcp_nodelay(true)") {
            found.push((
                line_of(at),
                "no .tcp_nodelay(true) in its chain before it listens",
            ));
        }
    }
    found
}

fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, ext, out);
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
}

#[test]
fn every_server_in_the_examples_the_readme_and_the_docs_sets_tcp_nodelay() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = vec![root.join("README.md")];
    files(&root.join("examples"), "rs", &mut paths);
    files(&root.join("src"), "rs", &mut paths);
    files(&root.join("docs"), "md", &mut paths);
    let mut servers = 0;
    let mut missing = Vec::new();
    for path in &paths {
        let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        servers += text.matches(CALL).count();
        for (line, why) in servers_without_nodelay(&text) {
            let shown = path.strip_prefix(root).unwrap_or(path).display();
            missing.push(format!("{shown}:{line}: {why}"));
        }
    }
    // The example server, the README's quick starts and the crate docs' snippets at least.
    assert!(servers >= 8, "found only {servers} servers in {paths:?}");
    assert!(
        missing.is_empty(),
        "servers without .tcp_nodelay(true) (streamed answers then wait ~40 ms for a delayed \
         ACK):\n{}",
        missing.join("\n")
    );
}

#[test]
fn a_server_without_tcp_nodelay_or_with_it_after_bind_is_found() {
    let good = "HttpServer::new(move || App::new().wrap(f(x)))\n    .workers(2)\n    \
                .tcp_nodelay(true)\n    .bind((\"127.0.0.1\", 8080))?\n    .run()";
    assert_eq!(servers_without_nodelay(good), []);
    let none = "HttpServer::new(move || App::new())\n.bind(addr)?\n.run()";
    assert_eq!(servers_without_nodelay(none).len(), 1);
    let late = "HttpServer::new(|| App::new()).bind(addr)?.tcp_nodelay(true).run()";
    assert_eq!(servers_without_nodelay(late).len(), 1);
    let off = "HttpServer::new(|| App::new()).tcp_nodelay(false).listen(l)?.run()";
    assert_eq!(servers_without_nodelay(off).len(), 1);
    let never = "HttpServer::new(|| App::new())";
    assert_eq!(servers_without_nodelay(never).len(), 1);
    // A server bound through a variable does not borrow the next server's setting.
    let borrowed = "let s = HttpServer::new(|| App::new());\ns.bind(a)?.run();\n\
                    HttpServer::new(|| App::new()).tcp_nodelay(true).bind(b)?.run()";
    assert_eq!(
        servers_without_nodelay(borrowed),
        [(1, "no .tcp_nodelay(true) in its chain before it listens")]
    );
    let kept = "let s = HttpServer::new(|| App::new()).tcp_nodelay(true);\ns.bind(a)?.run();";
    assert_eq!(servers_without_nodelay(kept), []);
}
