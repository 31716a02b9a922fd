"""The emulator's request recorder (moto's /moto-api/recorder): `recording.py start`, then
`recording.py stop AGENT` prints, as JSON, every recorded request whose user agent contains
AGENT (e.g. `app/mck-drift`): its operation and whether it only reads.

Operations are named as AWS does: the query APIs' `Action` (EC2, RDS, ElastiCache, IAM, ELBv2,
Auto Scaling), the JSON APIs' `X-Amz-Target` (ECS, CloudWatch Logs, CloudTrail), and for the
REST APIs (Route53, EFS) the method and path. A read is a Describe/List/Get/Lookup operation,
or a GET of a REST API.
"""

import base64
import json
import os
import sys
import urllib.parse
import urllib.request

ENDPOINT = os.environ["AWS_ENDPOINT_URL"]
READ_PREFIXES = ("Describe", "List", "Get", "Lookup")


def call(path, method="POST"):
    req = urllib.request.Request(f"{ENDPOINT}/moto-api/recorder/{path}", method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(req) as resp:
        return resp.read().decode()


def operation(entry):
    headers = {k.lower(): v for k, v in entry["headers"].items()}
    body = entry.get("body") or ""
    if entry.get("body_encoded"):
        body = base64.b64decode(body).decode("utf-8", "replace")
    target = headers.get("x-amz-target")
    if target:
        op = target.rsplit(".", 1)[-1]
        return op, op.startswith(READ_PREFIXES)
    action = urllib.parse.parse_qs(body).get("Action")
    if action:
        return action[0], action[0].startswith(READ_PREFIXES)
    path = urllib.parse.urlparse(entry["url"]).path
    return f"{entry['method']} {path}", entry["method"] == "GET"


def main():
    if sys.argv[1] == "start":
        call("reset-recording")
        call("start-recording")
        print(json.dumps({"recording": True}))
        return
    agent = sys.argv[2]
    call("stop-recording")
    text = call("download-recording", method="GET")
    ops = []
    for line in text.splitlines():
        if not line.strip():
            continue
        entry = json.loads(line)
        headers = {k.lower(): v for k, v in entry["headers"].items()}
        agents = headers.get("user-agent", "") + " " + headers.get("x-amz-user-agent", "")
        if agent not in agents:
            continue
        op, read = operation(entry)
        ops.append({"operation": op, "read": read})
    print(json.dumps({"requests": ops}))


main()
