"""Kiểm tra gói kiểm toán: the offline verifier of an audit bundle (`registry audit export`).

Standard library only, one file: an auditor copies it out of the repository
and runs it on a machine that has nothing of the registry,

    python3 -I -S bundle_verifier.py kiem-toan-00715-2025-01-01-2025-12-31.json [--root HEX] [--sha256 HEX]

(`registry audit verify BUNDLE` runs the same code). It recomputes, from the
bundle alone and as registry/hashing.py defines them:

- every event's hash: sha256 of the canonical JSON of its envelope
  (json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False), UTF-8);
- every stream's chain: versions 1..n in order, each prev_hash the hash of the
  version before, the last version and hash those the bundle's list of
  streams gives;
- every event's Merkle leaf (RFC 6962: sha256(0x00 || canonical JSON of hash,
  position, recorded_at, stream_id, transaction_id, version)) and its
  inclusion proof (RFC 9162 section 2.1.3.2) up to the root of the bundle's
  checkpoint; the consistency proofs (section 2.1.4.2) that each earlier
  checkpoint's tree is a prefix of it; and, with --root, that a root
  published outside the system is the checkpoint's or one of those;
- the access log's entries: well formed, about the bundle's records only,
  and this export's own read of each record among them.

What a published root attests is its own tree: with the root of an earlier
checkpoint, the events recorded after it rest on the bundle's checkpoint
alone, which whoever holds the database can recompute, and the verifier says
how many (NOT ATTESTED) instead of calling them proved. The list of streams,
the access log and the header are covered by no root at all: --sha256 checks
the file against the digest the export printed, sent apart.

The identity part of a child's events (name, personal identification number,
address, caregivers' names) stays sealed in the bundle, as ciphertext under
the child's key; the rest (dates of birth, groups of Art. 10, case notes, the
access log's purposes) is in the clear, so the bundle is sensitive personal
data to be kept and sent as such. A child whose stream holds ChildDataErased
is shown with its personal fields erased, the legal basis and the date: its
key is destroyed, and its events still verify, since erasure rewrites none.

It prints what it checked and each finding with the stream, version, global
position and entry number of the event. Exit status: 0 all checks passed,
1 findings, 2 the bundle cannot be read (not JSON, not a bundle, a format
version this verifier does not know).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FORMAT = "registry-audit-bundle"
FORMAT_VERSION = 1
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
_HEX32 = re.compile(r"[0-9a-f]{64}")
_UNIT = re.compile(r"[0-9]{2}([0-9]|[0-9]{3})?")
_EVENT_FIELDS: dict[str, Any] = {
    "position": int, "transaction_id": str, "stream_id": str, "stream_type": str, "version": int, "event_type": str,
    "schema_version": int, "data": dict, "metadata": dict, "occurred_at": str, "recorded_at": str,
    "prev_hash": (str, type(None)), "hash": str, "leaf_index": int, "proof": list,
}  # fmt: skip
_ACCESS_FIELDS: dict[str, Any] = {
    "id": int, "at": str, "request_id": str, "subject": str, "role": str, "unit": (str, type(None)),
    "operation": str, "record_kind": str, "record_id": (str, type(None)), "purpose": (str, type(None)),
    "outcome": str, "reason": (str, type(None)),
}  # fmt: skip
_RECORD_KINDS = {"child", "case", "access_log"}
_OUTCOMES = {"allowed", "denied", "not_found"}
ERASURE_EVENT = "ChildDataErased"


class Unreadable(Exception):
    """The file is not a bundle this verifier can read (exit status 2)."""


# -- hashing, as registry/hashing.py defines it ---------------------------------------------------------------------


def canonical(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def event_hash(event: dict[str, Any]) -> bytes:
    """The chain hash of an event of the bundle."""
    names = ("data", "event_type", "metadata", "occurred_at", "prev_hash", "schema_version", "stream_id",
             "stream_type", "version")  # fmt: skip
    return hashlib.sha256(canonical({name: event[name] for name in names})).digest()


def leaf_hash(event: dict[str, Any]) -> bytes:
    """The RFC 6962 leaf hash of an event in the global order (its hash as the bundle gives it)."""
    leaf = {name: event[name] for name in ("hash", "position", "recorded_at", "stream_id", "transaction_id", "version")}
    return hashlib.sha256(b"\x00" + canonical(leaf)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_path(index: int, size: int, leaf: bytes, path: list[bytes]) -> bytes | None:
    """The root an inclusion proof leads to (RFC 9162 section 2.1.3.2); None if the proof cannot be one."""
    if not 0 <= index < size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def consistent(first: int, second: int, first_root: bytes, second_root: bytes, proof: list[bytes]) -> bool:
    """Whether the tree of `first` leaves with `first_root` is a prefix of the one of `second` with `second_root`
    (RFC 9162 section 2.1.4.2)."""
    if not 0 < first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first & (first - 1) == 0:  # a power of two: the first tree is a node of the second
        proof = [first_root, *proof]
    if not proof:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


# -- the checks ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """Something the bundle does not bear out; `kind` is altered, removed, inserted, reordered, proof,
    checkpoint, personal, access or malformed."""

    kind: str
    detail: str
    stream_id: str | None = None
    version: int | None = None
    position: int | None = None
    entry: int | None = None  # the event's place in the bundle's list, from 1

    def __str__(self) -> str:
        where = []
        if self.stream_id is not None:
            where.append(f"stream {self.stream_id}")
        if self.version is not None:
            where.append(f"version {self.version}")
        if self.position is not None:
            where.append(f"position {self.position}")
        if self.entry is not None:
            where.append(f"entry {self.entry}")
        return f"{self.kind}: {', '.join(where)}: {self.detail}" if where else f"{self.kind}: {self.detail}"


@dataclass
class Result:
    checked: list[str] = field(default_factory=list)  # what was checked, one line each
    attested: int | None = None  # the size of the tree of the published root, when one was given and found
    erased: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def lines(self) -> list[str]:
        verdict = "OK" if self.ok else f"{len(self.findings)} FINDINGS"
        return [*self.checked, *self.erased, *(f"FINDING {f}" for f in self.findings), f"verify: {verdict}"]


_DIGITS = re.compile(r"[0-9]{1,20}")  # str.isdigit would take "²", which int() refuses


def _hex(value: object) -> bytes | None:
    return bytes.fromhex(value) if isinstance(value, str) and _HEX32.fullmatch(value) else None


def _well_formed(item: object, fields: dict[str, Any]) -> str | None:
    """What is wrong with the shape of an item (a missing or mistyped field), or None."""
    if not isinstance(item, dict):
        return "not an object"
    for name, kind in fields.items():
        if name not in item:
            return f"no field {name}"
        value = item[name]
        if isinstance(value, bool) and kind is int or not isinstance(value, kind):
            return f"field {name} is not of its type"
    return None


def _section(bundle: dict[str, Any], name: str, kind: type) -> Any:
    value = bundle.get(name)
    if not isinstance(value, kind):
        raise Unreadable(f"the bundle has no {name} ({kind.__name__})")
    return value


def check(bundle: object, published_root: bytes | None = None) -> Result:
    """Check a parsed bundle; Unreadable if it is not one this verifier knows."""
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        raise Unreadable(f"not a {FORMAT}")
    if bundle.get("format_version") != FORMAT_VERSION:
        raise Unreadable(f"format version {bundle.get('format_version')!r}; this verifier reads {FORMAT_VERSION}")
    checkpoint = _section(bundle, "checkpoint", dict)
    earlier = _section(bundle, "earlier_checkpoints", list)
    streams = _section(bundle, "streams", list)
    events = _section(bundle, "events", list)
    access = _section(bundle, "access_log", list)
    result = Result()
    unit, period = bundle.get("unit") or {}, bundle.get("period") or {}
    result.checked.append(f"bundle format {FORMAT_VERSION}, exported {bundle.get('exported_at')} by "
                          f"{bundle.get('exported_by')} (request {bundle.get('request_id')})")  # fmt: skip
    result.checked.append(f"unit {unit.get('code')} {unit.get('name')}, period {period.get('from')} to "
                          f"{period.get('to')}")  # fmt: skip
    root, size = _check_checkpoints(checkpoint, earlier, published_root, result)
    parts = bundle.get("personal_parts")
    fields = parts.get("child", {}).get("fields") if isinstance(parts, dict) else None
    heads = _check_events(events, streams, root, size, checkpoint.get("id"), result,
                          [str(f) for f in fields] if isinstance(fields, list) else [])  # fmt: skip
    _check_access(access, heads, bundle.get("request_id"), result)
    if result.attested is not None:
        beyond = sum(1 for e in events if isinstance(e, dict) and isinstance(e.get("leaf_index"), int)
                     and e["leaf_index"] >= result.attested)  # fmt: skip
        if beyond:
            # An earlier root proves its own leaves only: events recorded after it rest on the bundle's checkpoint,
            # which whoever holds the database can recompute. Said plainly, not failed: every honest export made
            # after the last published root has such events; check them again once a later root is published.
            result.checked.append(f"NOT ATTESTED: {beyond} of {len(events)} events were recorded after the published "
                                  f"root's {result.attested} events and rest on the bundle's checkpoint alone; "
                                  "check again with a root published after them")  # fmt: skip
        else:
            result.checked.append(f"attested: every one of the {len(events)} events lies within the published root")
    result.checked.append("not covered by any root: the list of streams, the access log and the header; compare "
                          "the file's sha256 with the one the export printed, sent apart (--sha256)")  # fmt: skip
    return result


def _check_checkpoints(
    checkpoint: dict[str, Any], earlier: list[Any], published: bytes | None, result: Result
) -> tuple[bytes | None, int]:
    root, size, ident = _hex(checkpoint.get("root")), checkpoint.get("size"), checkpoint.get("id")
    if root is None or not isinstance(size, int) or isinstance(size, bool) or size < 0:
        result.findings.append(Finding("checkpoint", "the checkpoint has no root of 64 hexadecimal digits or size"))
        return None, 0
    result.checked.append(f"checkpoint {ident}: {size} events up to position {checkpoint.get('upto_position')}, "
                          f"committed {checkpoint.get('created_at')}, root {root.hex()}")  # fmt: skip
    roots = {root: (f"checkpoint {ident}'s", size)}
    good = 0
    for item in earlier:
        first = _hex(item.get("root")) if isinstance(item, dict) else None
        m = item.get("size") if isinstance(item, dict) else None
        proof = [_hex(p) for p in item.get("consistency", [])] if isinstance(item, dict) else []
        name = item.get("id") if isinstance(item, dict) else None
        if (
            first is None
            or not isinstance(m, int)
            or None in proof
            or not consistent(m, size, first, root, [p for p in proof if p is not None])
        ):
            result.findings.append(Finding("checkpoint", f"earlier checkpoint {name}: its consistency proof does "
                                           f"not show its tree to be a prefix of checkpoint {ident}'s"))  # fmt: skip
            continue
        good += 1
        roots.setdefault(first, (f"earlier checkpoint {name}'s ({m} events, committed {item.get('created_at')})", m))
    if earlier:
        result.checked.append(f"earlier checkpoints: {len(earlier)}, consistency proofs checked ({good} hold)")
    if published is None:
        result.checked.append("no published root given (--root): the bundle is checked only against itself, and a "
                              "bundle forged whole would pass; give a root published outside the system")  # fmt: skip
    elif published in roots:
        label, result.attested = roots[published]
        result.checked.append(f"published root {published.hex()}: {label}, consistent with checkpoint {ident}")
    else:
        result.findings.append(Finding("checkpoint", f"the published root {published.hex()} is not the root of "
                                       "the bundle's checkpoint nor of an earlier one it proves"))  # fmt: skip
    return root, size


def _check_events(
    events: list[Any], streams: list[Any], root: bytes | None, size: int, ident: object, result: Result,
    personal_fields: list[str],
) -> dict[str, tuple[int, str]]:  # fmt: skip
    """Check each event, each stream's chain and the list of streams; return each stream's (last version, hash)."""
    findings = result.findings
    blocks: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    last_stream: str | None = None
    hashed = proved = 0
    leaf_of: dict[int, tuple[int, int, int]] = {}  # leaf index -> (transaction id, position, entry)
    for entry, event in enumerate(events, 1):
        wrong = _well_formed(event, _EVENT_FIELDS)
        if wrong is not None:
            stream = event.get("stream_id") if isinstance(event, dict) else None
            findings.append(Finding("malformed", wrong, stream if isinstance(stream, str) else None, entry=entry))
            continue
        stream, position = event["stream_id"], event["position"]

        def found(kind: str, detail: str, e: dict[str, Any] = event, n: int = entry) -> None:
            findings.append(Finding(kind, detail, e["stream_id"], e["version"], e["position"], n))

        if stream != last_stream and stream in blocks:
            found("reordered", "the stream's events are not together in the bundle: this one comes after another "
                  "stream's")  # fmt: skip
        last_stream = stream
        blocks.setdefault(stream, []).append((entry, event))
        if not (_TIME.fullmatch(event["occurred_at"]) and _TIME.fullmatch(event["recorded_at"])):
            found("malformed", "a time is not in the canonical form YYYY-MM-DDTHH:MM:SS.ffffffZ")
        digest = _hex(event["hash"])
        if digest is None or event_hash(event) != digest:
            found("altered", "its content does not give its hash")
        hashed += 1
        path = [_hex(p) for p in event["proof"]]
        leaf = leaf_hash(event)
        if (
            root is None
            or None in path
            or root_from_path(event["leaf_index"], size, leaf, [p for p in path if p is not None]) != root
        ):
            found("proof", f"its leaf (hash, position, transaction id, system time) and inclusion proof do not lead "
                  f"to checkpoint {ident}'s root: changed, inserted or moved since the checkpoint")  # fmt: skip
        else:
            proved += 1
        personal = event["data"].get("personal")
        if personal is not None and not (isinstance(personal, dict) and set(personal) == {"sealed"}
                                         and isinstance(personal["sealed"], str)):  # fmt: skip
            found("personal", "its personal part is not sealed")
        if not _DIGITS.fullmatch(event["transaction_id"]):
            found("malformed", "its transaction id is not a number")
            continue
        other = leaf_of.get(event["leaf_index"])
        if other is not None:
            found("inserted", f"entry {other[2]} holds leaf {event['leaf_index']} of the global order too")
        leaf_of[event["leaf_index"]] = (int(event["transaction_id"]), position, entry)
    order = [leaf_of[i] for i in sorted(leaf_of)]
    for (tx_a, pos_a, _), (tx_b, pos_b, entry_b) in zip(order, order[1:], strict=False):
        if (tx_a, pos_a) >= (tx_b, pos_b):
            e = events[entry_b - 1]
            findings.append(Finding("reordered", "its place in the global order (leaf index) does not follow its "
                                    "transaction id and position", e["stream_id"], e["version"], e["position"],
                                    entry_b))  # fmt: skip
    heads = {stream: _check_chain(stream, block, findings) for stream, block in blocks.items()}
    _check_manifest(streams, heads, blocks, findings)
    kinds = Counter(stream.split(":", 1)[0] for stream in blocks)
    result.checked.append(f"streams: {len(blocks)} ({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))}), "
                          "each chain checked: versions 1..n in order, each linked to the one before")  # fmt: skip
    result.checked.append(f"events: {len(events)}, hashes recomputed: {hashed}")
    result.checked.append(f"inclusion proofs: {proved} of {len(events)} lead to checkpoint {ident}'s root")
    _erasures(blocks, personal_fields, result)
    return heads


def _check_chain(stream: str, block: list[tuple[int, dict[str, Any]]], findings: list[Finding]) -> tuple[int, str]:
    """The chain of one stream, its events in the order the bundle gives them; returns its (last version, hash)."""

    def found(kind: str, detail: str, entry: int, e: dict[str, Any]) -> None:
        findings.append(Finding(kind, detail, stream, e["version"], e["position"], entry))

    by_version: dict[int, tuple[int, dict[str, Any]]] = {}
    highest = 0
    for entry, event in block:
        version = event["version"]
        if version in by_version:
            found("inserted", f"a second version {version} (the first is entry {by_version[version][0]})", entry, event)
            continue
        if version < highest:
            found("reordered", f"version {version} comes after version {highest}", entry, event)
        highest = max(highest, version)
        by_version[version] = (entry, event)
    previous: dict[str, Any] | None = None
    for version in range(1, highest + 1):
        if version not in by_version:
            continue
        entry, event = by_version[version]
        expected = 1 if previous is None else previous["version"] + 1
        if version != expected:
            missing = f"{expected}" if version == expected + 1 else f"{expected}..{version - 1}"
            found("removed", f"version {missing} missing before version {version}", entry, event)
        elif previous is None and event["prev_hash"] is not None:
            found("inserted", "the first version links to an event before it", entry, event)
        elif previous is not None and event["prev_hash"] != previous["hash"]:
            found("inserted", f"version {version} does not link to version {version - 1}", entry, event)
        previous = event
    return (0, "") if previous is None else (previous["version"], previous["hash"])


def _check_manifest(
    streams: list[Any], heads: dict[str, tuple[int, str]], blocks: dict[str, list[Any]], findings: list[Finding]
) -> None:
    """The bundle's list of streams (each with its last version and hash) against the streams its events make."""
    listed: dict[str, tuple[int, str]] = {}
    last_position: dict[str, int] = {}
    for item in streams:
        if isinstance(item, dict) and isinstance(item.get("stream_id"), str) and isinstance(item.get("versions"), int):
            listed[item["stream_id"]] = (item["versions"], str(item.get("head")))
            if isinstance(item.get("position"), int):
                last_position[item["stream_id"]] = item["position"]
        else:
            findings.append(Finding("malformed", "an item of the list of streams has no stream_id or versions"))
    for stream, (versions, head) in listed.items():
        have = heads.get(stream)
        if have is None:
            findings.append(Finding("removed", f"the list of streams gives {versions} versions and the bundle holds "
                                    "none of its events", stream))  # fmt: skip
        elif have[0] < versions:  # named by the last version's place, as the list of streams gives it
            last = blocks[stream][-1][1]
            missing = f"{have[0] + 1}" if versions == have[0] + 1 else f"{have[0] + 1}..{versions}"
            findings.append(Finding("removed", f"version {missing} missing after version {have[0]} (at position "
                                    f"{last['position']}): the list of streams gives {versions} versions", stream,
                                    versions, last_position.get(stream)))  # fmt: skip
        elif have != (versions, head):
            last = blocks[stream][-1][1]
            findings.append(Finding("inserted", f"the stream ends at version {have[0]}, not at the version {versions} "
                                    "and hash the list of streams gives", stream, last["version"],
                                    last["position"]))  # fmt: skip
    for stream in heads.keys() - listed.keys():
        findings.append(Finding("inserted", "a stream the list of streams does not name", stream))


def _erasures(blocks: dict[str, list[tuple[int, dict[str, Any]]]], fields: list[str], result: Result) -> None:
    """Each child whose personal data was erased: when, on what legal basis, and which events hold its sealed part
    (unreadable for good: its key is destroyed), each field of it shown as erased."""
    names = ", ".join(fields) or "the personal part"
    for stream, block in blocks.items():
        erasures = [e for _, e in block if e["event_type"] == ERASURE_EVENT]
        if not erasures:
            continue
        erasure = erasures[0]
        # Its events' own checks ran before: say they hold only when no finding names this stream.
        verdict = (
            "its events verify (erasure destroyed the key, it rewrote no event)"
            if not any(f.stream_id == stream for f in result.findings)
            else "see the findings on its events"
        )
        result.erased.append(
            f"erased: {stream}: personal data erased on {erasure['occurred_at'][:10]} (recorded "
            f"{erasure['recorded_at']}, version {erasure['version']}, position {erasure['position']}), legal basis: "
            f"{erasure['data'].get('legal_basis')}; {verdict}"
        )  # fmt: skip
        for entry, event in block:
            if not isinstance(event["data"].get("personal"), dict):
                continue
            if event["version"] > erasure["version"]:
                result.findings.append(Finding("personal", "a personal part recorded after the erasure", stream,
                                               event["version"], event["position"], entry))  # fmt: skip
            else:
                result.erased.append(f"  version {event['version']} {event['event_type']} (position "
                                     f"{event['position']}): {names}: [erased]")  # fmt: skip


def _check_access(access: list[Any], heads: dict[str, tuple[int, str]], request_id: object, result: Result) -> None:
    findings = result.findings
    records = {(stream.partition(":")[0], stream.partition(":")[2]) for stream in heads}
    read_by_export: set[tuple[str, str]] = set()
    outcomes: Counter[str] = Counter()
    last_id = 0
    for number, item in enumerate(access, 1):
        wrong = _well_formed(item, _ACCESS_FIELDS)
        if wrong is None:
            if item["id"] <= last_id:
                wrong = f"its id {item['id']} does not follow the entry before's ({last_id})"
            elif item["record_kind"] not in _RECORD_KINDS or item["outcome"] not in _OUTCOMES:
                wrong = "its record kind or outcome is none the access log knows"
            elif item["unit"] is not None and not _UNIT.fullmatch(item["unit"]):
                wrong = "its unit is not a unit code"
            elif not (1 <= len(item["request_id"]) <= 100 and 1 <= len(item["subject"]) <= 200):
                wrong = "its request id or subject is empty or too long"
            elif item["record_kind"] != "access_log" and (item["record_kind"], item["record_id"]) not in records:
                wrong = "it is about a record the bundle does not hold"
        if wrong is not None:
            findings.append(Finding("access", f"access log entry {number}: {wrong}"))
            continue
        last_id = item["id"]
        outcomes[item["outcome"]] += 1
        if item["request_id"] == request_id and item["outcome"] == "allowed":
            read_by_export.add((item["record_kind"], item["record_id"]))
    for kind, record in sorted(records - read_by_export):
        findings.append(Finding("access", "the access log lacks this export's read of the record", f"{kind}:{record}"))
    counts = ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items())) or "none"
    result.checked.append(f"access log: {len(access)} entries ({counts}), each well formed and about a record of the "
                          f"bundle; this export's read of each of the {len(records)} records present")  # fmt: skip


# -- the command -----------------------------------------------------------------------------------------------------


def verify_file(path: Path, root: str | None = None, sha256: str | None = None) -> tuple[int, list[str]]:
    """Check the bundle at `path` (against a published root and the file's sha256 sent apart, both in hexadecimal);
    the exit status and the lines to print."""
    published = expected = None
    for name, value in (("--root", root), ("--sha256", sha256)):
        if value is not None and _hex(value.strip().lower()) is None:
            return 2, [f"verify: {name} must be 64 hexadecimal digits"]
    if root is not None:
        published = _hex(root.strip().lower())
    if sha256 is not None:
        expected = _hex(sha256.strip().lower())
    try:
        raw = path.read_bytes()
        bundle = json.loads(raw)
        result = check(bundle, published)
    except (OSError, ValueError, Unreadable) as exc:  # ValueError: not JSON, not UTF-8
        return 2, [f"verify: {path} cannot be read as a bundle: {type(exc).__name__}: {exc}"]
    except (TypeError, AttributeError, KeyError) as exc:  # a part of another shape than a bundle's
        return 2, [f"verify: {path} cannot be read as a bundle: a part of it is malformed ({type(exc).__name__})"]
    digest = hashlib.sha256(raw).digest()
    head = f"bundle {path.name}: sha256 {digest.hex()}, {len(raw):,} bytes"
    if expected is not None:
        if digest == expected:
            result.checked.insert(0, "sha256: the file is the one the export wrote (the sha256 sent apart)")
        else:
            result.findings.insert(
                0,
                Finding(
                    "altered",
                    f"the file's sha256 is not {expected.hex()}, the one sent "
                    "apart: the list of streams, the access log or the header may differ",
                ),
            )
    return (0 if result.ok else 1), [head, *result.lines()]


def verify_command(settings: object, args: argparse.Namespace) -> int:
    """`registry audit verify BUNDLE [--root HEX]` (registry/cli.py): the same check as the standalone run."""
    status, lines = verify_file(Path(args.bundle), args.root, getattr(args, "sha256", None))
    print("\n".join(lines))
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bundle_verifier", description="Check a registry audit bundle offline.")
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--root", help="a root published outside the system (64 hexadecimal digits)")
    parser.add_argument("--sha256", help="the file's sha256 as the export printed it, sent apart (64 hex digits)")
    args = parser.parse_args(argv)
    return verify_command(None, args)


__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "Finding",
    "Result",
    "Unreadable",
    "canonical",
    "check",
    "consistent",
    "event_hash",
    "leaf_hash",
    "main",
    "node_hash",
    "root_from_path",
    "verify_command",
    "verify_file",
]

if __name__ == "__main__":
    sys.exit(main())
