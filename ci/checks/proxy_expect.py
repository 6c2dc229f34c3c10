"""What a probe client (proxy_probe.py, ci/node/probe.js, cli/examples/proxy_probe.rs) must
report for each case of ci/proxy-live.sh, derived from the tutorial's semantics (SEMANTICS.md,
computed here from the feature database and grpcio's reference distance) and from what each
fault does on the wire, as gRPC's spec maps it to a status:

  clean       no fault: every call OK with the reference's exact answer.
  list        rst-stream after 3 messages: the proxy forwards exactly 3 ListFeatures messages,
              then RST_STREAM(CANCEL) as the server's side. PROTOCOL-HTTP2.md ("Errors"):
              CANCEL from the server maps to CANCELLED. So: CANCELLED after 3 messages.
  chat        GOAWAY(NO_ERROR, last stream = the chat's) after 10 server frames, mid-RouteChat
              (the lock-step chat has at least 21 server frames). RFC 9113 6.8: streams up to
              the last stream id complete normally. So: RouteChat OK with all 190 replies, and
              the next call on the same channel OK (on a new connection).
  record-cut  connection reset (TCP RST) after 1000 bytes to the client, reached inside the
              ListFeatures answer while RecordRoute is open with its points sent. gRPC's
              status code table (statuscodes.md): data transmitted before the connection
              breaks is UNAVAILABLE. So: RecordRoute UNAVAILABLE with no response;
              ListFeatures not OK, with fewer than its 100 messages.

Usage: proxy_expect.py CASE CLIENT [--known FILE] < probe output. Prints each mismatch, and
`KNOWN <id>: ...` for one the file lists for that case, client, call and field with the value
seen; exit 1 if any mismatch is not listed.
"""

import argparse
import json
import os
import sys
import tomllib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
import route_guide_db  # noqa: E402
import route_guide_pb2  # noqa: E402

DB = route_guide_db.read_route_guide_database()
KNOWN = route_guide_pb2.Point(latitude=409146138, longitude=-746188906)


def in_rectangle(point, lo, hi):
    return (min(lo[0], hi[0]) <= point.latitude <= max(lo[0], hi[0]) and
            min(lo[1], hi[1]) <= point.longitude <= max(lo[1], hi[1]))


LISTED = [f.name for f in DB if in_rectangle(f.location, (400000000, -750000000), (420000000, -730000000))]
ROUTE = [f.location for f in DB[:10]]
SUMMARY = [len(ROUTE), sum(1 for p in ROUTE if route_guide_db.get_feature(DB, p) is not None),
           int(sum(route_guide_db.get_distance(a, b) for a, b in zip(ROUTE, ROUTE[1:])))]


def expectations(case):
    """{call: {field: expected}} for each call of the case; `ok` is any code but OK, and `under`
    a received count below the whole answer."""
    name = route_guide_db.get_feature(DB, KNOWN).name
    return {
        "clean": {"GetFeature": {"code": "OK", "received": 1, "result": name},
                  "ListFeatures": {"code": "OK", "received": len(LISTED), "result": LISTED},
                  "RecordRoute": {"code": "OK", "received": 1, "result": SUMMARY},
                  "RouteChat": {"code": "OK", "received": 2, "result": ["First message", "Third message"]}},
        "list": {"ListFeatures": {"code": "CANCELLED", "received": 3}},
        "chat": {"RouteChat": {"code": "OK", "received": 20 * 19 // 2},
                 "GetFeature": {"code": "OK", "received": 1, "result": name}},
        "record-cut": {"ListFeatures": {"code": "not OK", "received": "under %d" % len(LISTED)},
                       "RecordRoute": {"code": "UNAVAILABLE", "received": 0}},
    }[case]


def matches(expected, got):
    if expected == "not OK":
        return got != "OK"
    if isinstance(expected, str) and expected.startswith("under "):
        return isinstance(got, int) and got < int(expected.split()[1])
    return got == expected


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("case")
    parser.add_argument("client")
    parser.add_argument("--known", help="the known-differences file")
    parser.add_argument("--server", help="the server behind the proxy (an entry's `servers` limit it)")
    parser.add_argument("--list-known", action="store_true", help="print the file's ids and exit")
    args = parser.parse_args()
    known = []
    if args.known:
        with open(args.known, "rb") as f:
            known = tomllib.load(f).get("difference", [])
    if args.list_known:
        for entry in known:
            print(entry["id"], "race" if entry.get("race") else "always")
        return
    lines = [json.loads(line) for line in sys.stdin if line.strip()]
    wanted = expectations(args.case)
    problems = []
    got_calls = sorted(line["call"] for line in lines)
    if got_calls != sorted(wanted):
        problems.append("calls %s, expected one each of %s" % (got_calls, sorted(wanted)))
    else:
        for line in lines:
            for field, expected in wanted[line["call"]].items():
                if matches(expected, line[field]):
                    continue
                listed = [k for k in known if (k["case"], k["client"], k["call"], k["field"]) ==
                          (args.case, args.client, line["call"], field) and line[field] in k["seen"]
                          and args.server in k.get("servers", [args.server])]
                if listed:
                    print("KNOWN %s: %s %s is %r, expected %r" % (
                        listed[0]["id"], line["call"], field, line[field], expected))
                else:
                    problems.append("%s: %s is %r, expected %r" % (line["call"], field, line[field], expected))
    for problem in problems:
        print(problem)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
