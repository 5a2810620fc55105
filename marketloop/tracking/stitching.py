"""Identity stitching: identifiers seen together are one person; a profile is a connected
group of identifiers.

The identity graph has an identifier per node and an edge per pair of identifiers one event
carried together (or a CRM contact's email/mobile and the contact). A profile is a connected
component of the graph without its shared nodes; a shared node (an identifier linked to more
distinct identifiers of some kind than `settings.TRACKING_SHARED_LIMITS` allows, or a blocked
value) is a profile of its own and links nothing. Both rules depend only on the set of edges,
never on the order they arrived in, so any ordering of the same events stitches the same
profiles. Each batch adds its edges, then recomputes only the profiles they touch: two
profiles that become one are merged (recorded with the evidence), a profile that a newly
shared identifier held together is split (recorded with the reason).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import orjson
from django.conf import settings
from django.db import connection

from marketloop.tracking.identifiers import (
    FREE_MAIL_DOMAINS,
    Identifier,
    Sighting,
    is_blocked,
)


@dataclass
class Node:
    id: int
    kind: str
    value: str
    profile_id: int | None
    shared: bool

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.value}"


@dataclass
class StitchResult:
    identity_ids: dict[Identifier, int] = field(default_factory=dict)
    profile_of: dict[int, int] = field(default_factory=dict)  # identity id -> profile id
    touched: set[int] = field(default_factory=set)  # profiles whose members changed
    merges: list[tuple[int, int]] = field(default_factory=list)  # (survivor, absorbed)


@dataclass(frozen=True)
class Link:
    a: Identifier
    b: Identifier
    evidence: str
    message_id: str = ""


def links_of(sightings: Iterable[Sighting]) -> list[Link]:
    links = []
    for sighting in sightings:
        ids = sighting.identifiers
        for i in range(len(ids)):
            for j in range(i + 1, len(ids)):
                links.append(Link(ids[i], ids[j], sighting.evidence, sighting.message_id))
    return links


def stitch(sightings: list[Sighting], *, at: datetime, extra_links: Iterable[Link] = (),
           actor_id: int | None = None) -> StitchResult:
    """Record the identifiers and links of `sightings`, and bring the profiles they touch up
    to date. Runs inside the caller's transaction; callers serialise on `STITCH_LOCK`."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [STITCH_LOCK])
        links = links_of(sightings) + list(extra_links)
        wanted = {s.anchor for s in sightings} | {x for s in sightings for x in s.identifiers}
        wanted |= {link.a for link in links} | {link.b for link in links}
        nodes = _existing(cursor, wanted)
        new = wanted - set(nodes)
        crm_links = _crm_links(cursor, new)
        links += crm_links
        contacts = {link.b for link in crm_links} - set(nodes) - new
        nodes.update(_existing(cursor, contacts))
        new |= contacts - set(nodes)
        # A new identifier that links to nothing is a new profile of its own: no graph work.
        linked = {link.a for link in links} | {link.b for link in links}
        lonely = sorted(new - linked)
        result = StitchResult()
        if lonely:
            profiles = dict(zip(lonely, _new_profiles(cursor, len(lonely), at), strict=True))
            result.touched.update(profiles[ident] for ident in lonely
                                  if ident[0] in {"contact", "email"})  # CRM link, suggestion
            nodes.update(_insert(cursor, set(lonely), at, profiles))
        nodes.update(_insert(cursor, new - set(lonely), at, {}))
        result.identity_ids = {ident: node.id for ident, node in nodes.items()}
        new_edges = _insert_links(cursor, links, result.identity_ids, at)
        by_id = {node.id: node for node in nodes.values()}
        endpoints = {n for edge in new_edges for n in edge[:2]}
        newly_shared = _mark_shared(cursor, [by_id[n] for n in endpoints if not by_id[n].shared])
        if endpoints:
            _recompute(cursor, endpoints, new_edges, newly_shared, at, actor_id, result)
        for node in nodes.values():
            result.profile_of.setdefault(node.id, node.profile_id)  # type: ignore[arg-type]
        if result.touched:
            refresh_profiles(cursor, result.touched)
        return result


STITCH_LOCK = 0x7472616B  # "trak": one stitcher at a time keeps merges free of deadlocks


def ints(values: Iterable[int]) -> str:
    """An array parameter for `%s::bigint[]`, built at C speed (psycopg adapts a Python list
    element by element, which showed up as a sixth of processing)."""
    return "{" + ",".join(map(str, values)) + "}"


def _existing(cursor, identifiers: set[Identifier]) -> dict[Identifier, Node]:
    if not identifiers:
        return {}
    cursor.execute(
        "SELECT i.id, i.kind, i.value, i.profile_id, i.shared FROM tracking_identity i "
        "JOIN json_to_recordset(%s::json) AS w(k text, v text) ON i.kind = w.k AND i.value = w.v",
        [orjson.dumps([{"k": k, "v": v} for k, v in identifiers]).decode()])
    return {(row[1], row[2]): Node(*row) for row in cursor.fetchall()}


def _insert(cursor, identifiers: set[Identifier], at: datetime,
            profiles: dict[Identifier, int]) -> dict[Identifier, Node]:
    if not identifiers:
        return {}
    rows = [{"k": k, "v": v, "b": is_blocked((k, v)), "p": profiles.get((k, v))}
            for k, v in sorted(identifiers)]
    cursor.execute(
        # Under the stitch lock and after _existing: none of these exist, so a plain insert.
        "INSERT INTO tracking_identity (kind, value, profile_id, shared, shared_reason, "
        "first_seen, last_seen) SELECT k, v, p, b, CASE WHEN b THEN 'blocked value' ELSE '' "
        "END, %s, %s FROM json_to_recordset(%s::json) AS t(k text, v text, b bool, p bigint) "
        "RETURNING id, kind, value, profile_id, shared",
        [at, at, orjson.dumps(rows).decode()])
    return {(row[1], row[2]): Node(*row) for row in cursor.fetchall()}


def _crm_links(cursor, identifiers: set[Identifier]) -> list[Link]:
    """New emails and phones that belong to a CRM contact link to that contact (a phone only
    when exactly one contact has it)."""
    emails = [v for k, v in identifiers if k == "email"]
    phones = [v for k, v in identifiers if k == "mobile"]
    links: list[Link] = []
    if emails:
        cursor.execute("SELECT lower(email), id FROM crm_contact "
                       "WHERE lower(email) = ANY(%s) AND email <> ''", [emails])
        links += [Link(("email", e), ("contact", str(c)), "crm") for e, c in cursor.fetchall()]
    if phones:
        cursor.execute("SELECT mobile, min(id) FROM crm_contact WHERE mobile = ANY(%s) "
                       "GROUP BY mobile HAVING count(*) = 1", [phones])
        links += [Link(("mobile", m), ("contact", str(c)), "crm") for m, c in cursor.fetchall()]
    return links


def _insert_links(cursor, links: list[Link], ids: dict[Identifier, int],
                  at: datetime) -> list[tuple[int, int, str, str]]:
    pairs: dict[tuple[int, int], tuple[str, str]] = {}
    for link in links:
        a, b = ids[link.a], ids[link.b]
        if a != b:
            pairs.setdefault((min(a, b), max(a, b)), (link.evidence, link.message_id))
    if not pairs:
        return []
    rows = [{"l": low, "h": high, "e": evidence, "m": message_id[:100]}
            for (low, high), (evidence, message_id) in sorted(pairs.items())]
    cursor.execute(
        "INSERT INTO tracking_identitylink (low_id, high_id, evidence, message_id, seen_at) "
        "SELECT l, h, e, m, %s FROM json_to_recordset(%s::json) "
        "AS t(l bigint, h bigint, e text, m text) ON CONFLICT (low_id, high_id) DO NOTHING "
        "RETURNING low_id, high_id, evidence, message_id",
        [at, orjson.dumps(rows).decode()])
    return [tuple(row) for row in cursor.fetchall()]  # type: ignore[misc]


def _mark_shared(cursor, candidates: list[Node]) -> set[int]:
    """Flag the candidates that now exceed a limit; return their ids."""
    limits = settings.TRACKING_SHARED_LIMITS
    checked = [node for node in candidates if node.kind in limits]
    if not checked:
        return set()
    ids = ints(node.id for node in checked)
    cursor.execute(
        "SELECT e.me, n.kind, count(*) FROM ("
        " SELECT low_id AS me, high_id AS other FROM tracking_identitylink"
        " WHERE low_id = ANY(%s::bigint[])"
        " UNION ALL"
        " SELECT high_id, low_id FROM tracking_identitylink WHERE high_id = ANY(%s::bigint[])) e "
        "JOIN tracking_identity n ON n.id = e.other GROUP BY e.me, n.kind", [ids, ids])
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    for me, kind, count in cursor.fetchall():
        counts[me][kind] = count
    reasons: dict[int, str] = {}
    for node in checked:
        for kind, limit in limits[node.kind].items():
            seen = counts[node.id].get(kind, 0)
            if seen > limit:
                reasons[node.id] = f"linked to {seen} {kind} identifiers (limit {limit})"
                break
    if reasons:
        cursor.execute(
            "UPDATE tracking_identity i SET shared = true, shared_reason = r.reason "
            "FROM json_to_recordset(%s::json) AS r(id bigint, reason text) WHERE i.id = r.id",
            [orjson.dumps([{"id": k, "reason": reasons[k]} for k in sorted(reasons)]).decode()])
        for node in checked:
            if node.id in reasons:
                node.shared = True
    return set(reasons)


def _load_closure(cursor, affected: set[int]) -> tuple[dict[int, Node], list[tuple[int, int]]]:
    """The affected identities, every identity of their profiles, and the edges among them;
    widened until no edge between unshared nodes leaves the set."""
    cursor.execute("SELECT DISTINCT profile_id FROM tracking_identity "
                   "WHERE id = ANY(%s::bigint[]) AND profile_id IS NOT NULL", [ints(affected)])
    profiles = [row[0] for row in cursor.fetchall()]
    cursor.execute("SELECT id, kind, value, profile_id, shared FROM tracking_identity "
                   "WHERE profile_id = ANY(%s::bigint[]) OR id = ANY(%s::bigint[])",
                   [ints(profiles), ints(affected)])
    nodes = {row[0]: Node(*row) for row in cursor.fetchall()}
    while True:
        ids = ints(nodes)
        cursor.execute("SELECT low_id, high_id FROM tracking_identitylink "
                       "WHERE low_id = ANY(%s::bigint[]) OR high_id = ANY(%s::bigint[])",
                       [ids, ids])
        edges = cursor.fetchall()
        outside = {n for edge in edges for n in edge if n not in nodes}
        cursor.execute("SELECT id, kind, value, profile_id, shared FROM tracking_identity "
                       "WHERE id = ANY(%s::bigint[]) AND NOT shared", [ints(outside)])
        rows = cursor.fetchall()
        linked = {n for a, b in edges for n in (a, b)
                  if (a in nodes and not nodes[a].shared) or (b in nodes and not nodes[b].shared)}
        more = [row for row in rows if row[0] in linked]
        if not more:
            return nodes, [(a, b) for a, b in edges if a in nodes and b in nodes]
        extra = {row[3] for row in more if row[3] is not None}
        cursor.execute("SELECT id, kind, value, profile_id, shared FROM tracking_identity "
                       "WHERE profile_id = ANY(%s::bigint[]) OR id = ANY(%s::bigint[])",
                       [ints(extra), ints(row[0] for row in more)])
        nodes.update({row[0]: Node(*row) for row in cursor.fetchall()})


def _components(nodes: dict[int, Node], edges: list[tuple[int, int]]) -> list[list[int]]:
    parent = {n: n for n in nodes}

    def find(n: int) -> int:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for a, b in edges:
        if nodes[a].shared or nodes[b].shared:
            continue
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = defaultdict(list)
    for n in nodes:
        groups[find(n)].append(n)
    return sorted((sorted(g) for g in groups.values()), key=lambda g: g[0])


def _recompute(cursor, affected: set[int], new_edges: list[tuple[int, int, str, str]],
               newly_shared: set[int], at: datetime, actor_id: int | None,
               result: StitchResult) -> None:
    nodes, edges = _load_closure(cursor, affected)
    components = _components(nodes, edges)
    claimed: set[int] = set()
    survivor_of: list[int | None] = []
    for members in components:
        olds = sorted({nodes[n].profile_id for n in members if nodes[n].profile_id is not None})
        survivor = next((p for p in olds if p not in claimed), None)
        if survivor is not None:
            claimed.add(survivor)
        survivor_of.append(survivor)
    needed = sum(1 for s in survivor_of if s is None)
    fresh = _new_profiles(cursor, needed, at) if needed else []
    fresh_iter = iter(fresh)
    survivors = [s if s is not None else next(fresh_iter) for s in survivor_of]

    changes: list[tuple[str, int, int, dict]] = []
    absorbed: dict[int, int] = {}
    moves: dict[int, int] = {}
    for members, survivor in zip(components, survivors, strict=True):
        olds = {nodes[n].profile_id for n in members if nodes[n].profile_id is not None}
        for old in sorted(olds - {survivor}):
            if old in claimed:
                changes.append(("split", survivor, old, _split_evidence(
                    nodes, members, old, newly_shared)))
            else:
                absorbed.setdefault(old, survivor)
                changes.append(("merge", survivor, old, _merge_evidence(
                    nodes, members, new_edges)))
                result.merges.append((survivor, old))
        for n in members:
            if nodes[n].profile_id != survivor:
                moves[n] = survivor
            nodes[n].profile_id = survivor
            result.profile_of[n] = survivor
        result.touched.add(survivor)
    if moves:
        keys = sorted(moves)
        cursor.execute("UPDATE tracking_identity i SET profile_id = m.p FROM "
                       "unnest(%s::bigint[], %s::bigint[]) AS m(id, p) WHERE i.id = m.id",
                       [ints(keys), ints(moves[k] for k in keys)])
    if absorbed:
        _absorb(cursor, absorbed)
    if changes:
        cursor.execute(
            "INSERT INTO tracking_profilechange (kind, survivor_id, other_id, evidence, at, "
            "by_id) SELECT k, s, o, e::jsonb, %s, %s FROM unnest(%s::text[], %s::bigint[], "
            "%s::bigint[], %s::text[]) AS t(k, s, o, e)",
            [at, actor_id, [c[0] for c in changes], [c[1] for c in changes],
             [c[2] for c in changes], [orjson.dumps(c[3]).decode() for c in changes]])
        result.touched.update(c[2] for c in changes if c[0] == "split")


def _merge_evidence(nodes: dict[int, Node], members: list[int],
                    new_edges: list[tuple[int, int, str, str]]) -> dict:
    inside = set(members)
    proofs = [{"identifiers": [nodes[a].label, nodes[b].label], "evidence": evidence,
               "message_id": message_id}
              for a, b, evidence, message_id in new_edges if a in inside and b in inside]
    return {"rule": "identifiers seen together", "links": proofs[:20]}


def _split_evidence(nodes: dict[int, Node], members: list[int], old: int,
                    newly_shared: set[int]) -> dict:
    shared = [nodes[n].label for n in newly_shared if n in nodes]
    return {"rule": "shared identifier stopped linking", "shared": sorted(shared),
            "moved": [nodes[n].label for n in members][:20], "from_profile": old}


def _new_profiles(cursor, count: int, at: datetime) -> list[int]:
    cursor.execute(
        "INSERT INTO tracking_profile (traits, first_seen, last_seen, owner_unit_id) "
        "SELECT '{}'::jsonb, %s, %s, (SELECT id FROM org_orgunit WHERE code = 'hq-marketing') "
        "FROM generate_series(1, %s) RETURNING id", [at, at, count])
    return sorted(row[0] for row in cursor.fetchall())


def _absorb(cursor, absorbed: dict[int, int]) -> None:
    """Absorbed profiles hand their traits and first/last seen to their survivors and point
    at them from then on."""
    keys = sorted(absorbed)
    cursor.execute(
        "SELECT id, traits, first_seen, last_seen FROM tracking_profile WHERE id = ANY(%s)",
        [keys + sorted(set(absorbed.values()))])
    # Django's cursor hands jsonb over as text (the ORM field decodes it).
    rows = {row[0]: (_json(row[1]), row[2], row[3]) for row in cursor.fetchall()}
    merged: dict[int, tuple[dict, datetime, datetime]] = {}
    for old in keys:  # older profiles first: a survivor's own traits win
        survivor = absorbed[old]
        traits, first, last = merged.get(survivor, rows[survivor])
        old_traits, old_first, old_last = rows[old]
        merged[survivor] = ({**(old_traits or {}), **(traits or {})}, min(first, old_first),
                            max(last, old_last))
    survivors = sorted(merged)
    cursor.execute(
        "UPDATE tracking_profile p SET traits = u.t::jsonb, first_seen = u.f, last_seen = u.l "
        "FROM unnest(%s::bigint[], %s::text[], %s::timestamptz[], %s::timestamptz[]) "
        "AS u(id, t, f, l) WHERE p.id = u.id",
        [survivors, [orjson.dumps(merged[s][0]).decode() for s in survivors],
         [merged[s][1] for s in survivors], [merged[s][2] for s in survivors]])
    cursor.execute(
        "UPDATE tracking_profile p SET merged_into_id = m.survivor, contact_id = NULL, "
        "account_id = NULL, suggested_account_id = NULL "
        "FROM unnest(%s::bigint[], %s::bigint[]) AS m(old, survivor) WHERE p.id = m.old",
        [keys, [absorbed[k] for k in keys]])


def _json(value: object) -> dict:
    if isinstance(value, (str, bytes)):
        value = orjson.loads(value)
    return value if isinstance(value, dict) else {}


def refresh_profiles(cursor, profile_ids: Iterable[int]) -> None:
    """Set each profile's contact (its CRM contact identity), account and visibility scope
    (the contact's, else HQ marketing's), and suggest an account from a business email
    domain when no contact is known."""
    ids = sorted(set(profile_ids))
    if not ids:
        return
    cursor.execute(
        "WITH c AS (SELECT p.id, (SELECT min(i.value::bigint) FROM tracking_identity i "
        "  WHERE i.profile_id = p.id AND i.kind = 'contact' AND NOT i.shared) AS contact_id "
        "  FROM tracking_profile p WHERE p.id = ANY(%s::bigint[]) AND p.merged_into_id IS NULL), "
        "marketing AS (SELECT id FROM org_orgunit WHERE code = 'hq-marketing'), "
        "target AS (SELECT c.id, ct.id AS contact_id, ct.account_id, "
        "  COALESCE(ct.owner_unit_id, (SELECT id FROM marketing)) AS owner_unit_id, "
        "  ct.partner_id, ct.owner_id FROM c LEFT JOIN crm_contact ct ON ct.id = c.contact_id) "
        "UPDATE tracking_profile p SET contact_id = t.contact_id, account_id = t.account_id, "
        "owner_unit_id = t.owner_unit_id, partner_id = t.partner_id, owner_id = t.owner_id "
        "FROM target t WHERE p.id = t.id AND (p.contact_id IS DISTINCT FROM t.contact_id "
        "OR p.account_id IS DISTINCT FROM t.account_id "
        "OR p.owner_unit_id IS DISTINCT FROM t.owner_unit_id "
        "OR p.partner_id IS DISTINCT FROM t.partner_id OR p.owner_id IS DISTINCT FROM t.owner_id)",
        [ints(ids)])
    cursor.execute(
        "UPDATE tracking_profile p SET suggested_account_id = s.account_id FROM ("
        " SELECT DISTINCT ON (i.profile_id) i.profile_id, c.account_id"
        " FROM tracking_identity i JOIN crm_contact c"
        "  ON lower(split_part(c.email, '@', 2)) = split_part(i.value, '@', 2)"
        " WHERE i.profile_id = ANY(%s::bigint[]) AND i.kind = 'email' AND NOT i.shared"
        "  AND NOT split_part(i.value, '@', 2) = ANY(%s)"
        " GROUP BY i.profile_id, c.account_id"
        " ORDER BY i.profile_id, count(*) DESC, c.account_id) s "
        "WHERE p.id = s.profile_id AND p.contact_id IS NULL "
        "AND p.suggested_account_id IS DISTINCT FROM s.account_id",
        [ints(ids), sorted(FREE_MAIL_DOMAINS)])
