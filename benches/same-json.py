#!/usr/bin/env python3
"""Pre-flight of benches/load.sh and benches/callgrind.sh: the bare route is a floor for the MCP
endpoint only if it answers the same JSON, so this checks it before anything is measured.

    python3 benches/same-json.py PORT TOKEN

Against the example server on 127.0.0.1:PORT (LOAD_ROUTES=1, MCP_STATELESS=1), sends the load
benchmark's request, a JSON-RPC `tools/call whoami`, to POST /load/bare (no token), POST
/load/auth and POST /mcp (with TOKEN), with the headers wrk sends, and compares the three bodies
as JSON. Exit status 0 when they are equal; 1, naming the first difference, when they are not.
Every request gives up after 60 s.
"""
import http.client
import json
import sys

port, token = sys.argv[1], sys.argv[2]
REQUEST = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{}}}'


def answer(path, with_token):
    conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=60)
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2025-06-18",
    }
    if with_token:
        headers["Authorization"] = "Bearer " + token
    conn.request("POST", path, REQUEST, headers)
    r = conn.getresponse()
    body = r.read().decode("utf-8", "replace")
    conn.close()
    if r.status != 200:
        sys.exit(f"same-json: POST {path} answered {r.status}: {body[:300]}")
    try:
        return json.loads(body)
    except ValueError:
        sys.exit(f"same-json: POST {path} did not answer JSON ({r.getheader('Content-Type')}): {body[:300]}")


def first_difference(a, b, at="$"):
    if type(a) is not type(b):
        return f"{at}: {a!r} against {b!r}"
    if isinstance(a, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return f"{at}.{k}: only in {'the first' if k in a else 'the second'}"
            d = first_difference(a[k], b[k], f"{at}.{k}")
            if d:
                return d
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{at}: {len(a)} items against {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            d = first_difference(x, y, f"{at}[{i}]")
            if d:
                return d
        return None
    return None if a == b else f"{at}: {a!r} against {b!r}"


mcp = answer("/mcp", True)
for path, with_token in (("/load/bare", False), ("/load/auth", True)):
    d = first_difference(answer(path, with_token), mcp)
    if d:
        sys.exit(f"same-json: POST {path} does not answer the JSON of a stateless tools/call "
                 f"whoami at /mcp, so it is no floor for it ({path} against /mcp): {d}")
print("same-json: /load/bare, /load/auth and /mcp answer the same JSON")
