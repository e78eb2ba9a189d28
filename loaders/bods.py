"""BODS v0.4 (Beneficial Ownership Data Standard, Open Ownership) JSON → graphrisk tables.

Mapping, record by record (the latest statement of a ``recordId`` wins; ``recordStatus: closed`` removes it):

- ``entity`` records → ``enterprises`` (id = recordId); ``entityType`` ``state`` / ``stateBody`` →
  ``state_owned`` true, so the ownership analysis reports them as state control. Arrangements (trusts, joint
  holdings, nominations) are enterprises too: they hold shares.
- ``person`` records → ``persons``. ``anonymousPerson`` and ``unknownPerson`` are kept as explicit unknown
  holders (name ``unknown person (<reason>)``), never dropped: an unknown owner is not "no data".
- ``relationship`` records with a ``direct`` (or unspecified) ``shareholding`` or ``votingRights`` interest →
  ``shareholdings``: ``share`` / ``voting_share`` from ``exact``; a range fills ``share_min``/``share_max``;
  ``share`` is always the guaranteed minimum (the lower bound, 0 when nothing is known), so sums never
  overstate ownership. Exclusive bounds are stored as closed bounds (the tables have no open intervals).
  A relationship whose interests carry no share at all (interest of unknown type, or control such as
  ``otherInfluenceOrControl``) is kept with ``share`` 0 and bounds [0, 1]: the link exists, its size is unknown.
- ``boardMember`` → ``officers`` role ``director``, ``boardChair`` → ``chairman``, ``seniorManagingOfficial`` →
  ``manager`` (when the party is a person; an entity on a board goes to ``other_interests``).
- Declared ``indirect`` interests are not edges (they would double count the chain); they are kept in
  ``declared_indirect`` so a test can compare them with what the ownership analysis computes.
- An inline ``interestedParty`` with a ``reason`` (no person record) is kept in ``unspecified_owners``; no
  placeholder person is made up. Other interests (trustee, settlor, nominee …) go to ``other_interests``.

>>> import json, tempfile, pathlib
>>> stmts = [
...   {"recordId": "e1", "recordType": "entity",
...    "recordDetails": {"name": "Acme", "entityType": {"type": "registeredEntity"}}},
...   {"recordId": "p1", "recordType": "person", "recordDetails": {"personType": "knownPerson",
...    "names": [{"fullName": "Jane"}]}},
...   {"recordId": "r1", "recordType": "relationship", "recordDetails": {"subject": "e1", "interestedParty": "p1",
...    "interests": [{"type": "shareholding", "directOrIndirect": "direct", "share": {"exact": 75}}]}}]
>>> path = pathlib.Path(tempfile.mkdtemp()) / "b.json"
>>> _ = path.write_text(json.dumps(stmts))
>>> read_bods([path]).shareholdings[["holder_id", "company_id", "share"]].values.tolist()
[['p1', 'e1', 0.75]]
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from graphrisk.errors import DataError

__all__ = ["BodsImport", "read_bods"]

_OFFICER_ROLES = {"boardMember": "director", "boardChair": "chairman", "seniorManagingOfficial": "manager"}
_SHARE_TYPES = {"shareholding", "votingRights"}
# Control without a stated equity share: kept as a holding of unknown share ([0, 1]), so the chain is not lost.
_CONTROL_TYPES = {
    "otherInfluenceOrControl",
    "appointmentOfBoard",
    "controlViaCompanyRulesOrArticles",
    "controlByLegalFramework",
    "rightsGrantedByContract",
    "conditionalRightsGrantedByContract",
}


@dataclass(frozen=True)
class BodsImport:
    """The graphrisk tables from BODS statements, and what does not fit them (kept, not dropped)."""

    enterprises: pd.DataFrame
    persons: pd.DataFrame
    shareholdings: pd.DataFrame
    officers: pd.DataFrame
    declared_indirect: pd.DataFrame
    unspecified_owners: pd.DataFrame
    other_interests: pd.DataFrame

    def frames(self) -> dict[str, pd.DataFrame]:
        """Every table by file name; the three side tables have names the loaders ignore."""
        return {
            "enterprises": self.enterprises,
            "persons": self.persons,
            "shareholdings": self.shareholdings,
            "officers": self.officers,
            "bods_declared_indirect": self.declared_indirect,
            "bods_unspecified_owners": self.unspecified_owners,
            "bods_other_interests": self.other_interests,
        }


def _statements(paths: Iterable[Path]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in paths:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(f"{path}: not readable BODS JSON ({exc}). Fix: give a BODS v0.4 statement array.") from None
        if isinstance(data, dict):
            data = [data]
        if not isinstance(data, list):
            raise DataError(f"{path}: BODS data must be a JSON array of statements.")
        out.extend(s for s in data if isinstance(s, dict))
    return out


def _bounds(share: dict[str, Any] | None) -> tuple[float | None, float | None, float | None]:
    """(exact, min, max) as fractions from a BODS share object (percentages)."""
    if not share:
        return None, None, None
    exact = share.get("exact")
    lo = share.get("minimum", share.get("exclusiveMinimum"))
    hi = share.get("maximum", share.get("exclusiveMaximum"))

    def frac(v: Any) -> float | None:
        return None if v is None else float(v) / 100.0

    return frac(exact), frac(lo), frac(hi)


def _person_name(details: dict[str, Any]) -> str:
    names = details.get("names") or []
    for n in names:
        if n.get("fullName"):
            return str(n["fullName"])
    kind = details.get("personType", "unknownPerson")
    reason = (details.get("unspecifiedPersonDetails") or {}).get("reason", kind)
    return f"unknown person ({reason})"


def read_bods(paths: Iterable[Path]) -> BodsImport:
    """Read BODS v0.4 statement files into graphrisk tables (see the module text for the mapping)."""
    latest: dict[str, dict[str, Any]] = {}
    for s in _statements(paths):
        rid = s.get("recordId") or s.get("statementId")
        if rid is None:
            continue
        if s.get("recordStatus") == "closed":
            latest.pop(str(rid), None)
            continue
        latest[str(rid)] = s  # statements come in publication order: a later one updates the record
    ents, pers, holds, offs, indirect, unspecified, other = [], [], [], [], [], [], []
    for rid, s in latest.items():
        d = s.get("recordDetails") or {}
        kind = s.get("recordType")
        if kind == "entity":
            etype = (d.get("entityType") or {}).get("type", "")
            ents.append(
                {
                    "id": rid,
                    "name": d.get("name") or f"unnamed entity {rid}",
                    "state_owned": "true" if etype in ("state", "stateBody") else "",
                    "status": "",
                }
            )
        elif kind == "person":
            pers.append({"id": rid, "name": _person_name(d)})
    person_ids = {p["id"] for p in pers}
    for rid, s in latest.items():
        if s.get("recordType") != "relationship":
            continue
        d = s.get("recordDetails") or {}
        subject, party = d.get("subject"), d.get("interestedParty")
        if isinstance(party, dict):
            unspecified.append(
                {
                    "relationship_id": rid,
                    "company_id": subject,
                    "reason": party.get("reason", ""),
                    "description": party.get("description", ""),
                }
            )
            continue
        if not isinstance(subject, str) or not isinstance(party, str):
            continue
        interests = d.get("interests") or [{}]
        direct: dict[str, tuple[float | None, float | None, float | None]] = {}
        for it in interests:
            itype = it.get("type")
            way = it.get("directOrIndirect", "unknown")
            exact, lo, hi = _bounds(it.get("share"))
            if way == "indirect":
                indirect.append(
                    {
                        "holder_id": party,
                        "company_id": subject,
                        "interest": itype or "",
                        "share": exact,
                        "share_min": lo if exact is None else exact,
                        "share_max": hi if exact is None else exact,
                    }
                )
            elif itype in _SHARE_TYPES:
                direct[str(itype)] = (exact, lo, hi)
            elif itype in _OFFICER_ROLES and party in person_ids:
                offs.append({"person_id": party, "company_id": subject, "role": _OFFICER_ROLES[str(itype)]})
            elif itype is None or itype in _CONTROL_TYPES:
                direct.setdefault("unknown", (None, None, None))
                if itype is not None:
                    other.append({"holder_id": party, "company_id": subject, "interest": itype, "direct": way})
            else:
                other.append({"holder_id": party, "company_id": subject, "interest": itype, "direct": way})
        if not direct:
            continue
        exact, lo, hi = direct.get("shareholding") or direct.get("unknown") or (None, None, None)
        v_exact, v_lo, _v_hi = direct.get("votingRights", (None, None, None))
        if exact is not None:
            share, smin, smax = exact, None, None
        else:
            smin = lo if lo is not None else 0.0
            smax = hi if hi is not None else 1.0
            share = smin
        holds.append(
            {
                "holder_id": party,
                "company_id": subject,
                "share": share,
                "voting_share": v_exact if v_exact is not None else v_lo,
                "share_min": smin,
                "share_max": smax,
            }
        )

    def frame(rows: list[dict[str, Any]], cols: list[str]) -> pd.DataFrame:
        return pd.DataFrame(rows, columns=cols)

    sh = frame(holds, ["holder_id", "company_id", "share", "voting_share", "share_min", "share_max"])
    return BodsImport(
        enterprises=frame(ents, ["id", "name", "state_owned", "status"]),
        persons=frame(pers, ["id", "name"]),
        shareholdings=sh.drop_duplicates(["holder_id", "company_id"], keep="last").reset_index(drop=True),
        officers=frame(offs, ["person_id", "company_id", "role"]).drop_duplicates(),
        declared_indirect=frame(indirect, ["holder_id", "company_id", "interest", "share", "share_min", "share_max"]),
        unspecified_owners=frame(unspecified, ["relationship_id", "company_id", "reason", "description"]),
        other_interests=frame(other, ["holder_id", "company_id", "interest", "direct"]),
    )
