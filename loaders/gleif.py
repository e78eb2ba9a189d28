"""GLEIF Level 1 (LEI-CDF 3.1) and Level 2 (RR-CDF 2.1, reporting exceptions) XML → graphrisk tables.

- Level 1 ``LEIRecord`` → ``enterprises``: id = the LEI, name = ``LegalName``, region = legal-address country,
  status = ``EntityStatus``.
- Level 2 ``IS_DIRECTLY_CONSOLIDATED_BY`` (child → direct accounting parent) → a ``shareholdings`` row parent →
  child. GLEIF states accounting consolidation (IFRS 10 / US GAAP control), not an equity percentage. We assign
  ``share`` 0.5, ``share_min`` 0.5, ``share_max`` 1.0 and no voting share: consolidation usually rests on a
  majority stake, so half is the least a reader should assume, but a consolidating parent can hold less equity
  (control by contract or by a minority with de-facto control), and asserting more than 50 % would make the
  control analysis declare majority control that the record does not state. Intervals let the beneficial-owner
  and control outputs say "possible" instead of guessing. Edges with ``RelationshipStatus`` other than ACTIVE
  are skipped.
- ``IS_ULTIMATELY_CONSOLIDATED_BY`` is not an edge (it would double count the chain of direct parents); like
  ``IS_FUND-MANAGED_BY`` (management, not ownership) and ``IS_SUBFUND_OF`` (umbrella structure) it is kept in
  ``gleif_relationships``.
- Reporting exceptions (``NON_CONSOLIDATING``, ``NO_KNOWN_PERSON`` …) are kept in ``gleif_exceptions``: a
  declared reason for a missing parent is not "no data".
- An LEI named only in a relationship gets a placeholder enterprise (name ``LEI <id>``) so edges validate.

>>> import tempfile, pathlib
>>> xml = '''<rr:RelationshipData xmlns:rr="http://www.gleif.org/data/schema/rr/2016"><rr:RelationshipRecords>
... <rr:RelationshipRecord><rr:Relationship><rr:StartNode><rr:NodeID>CHILD</rr:NodeID></rr:StartNode>
... <rr:EndNode><rr:NodeID>PARENT</rr:NodeID></rr:EndNode>
... <rr:RelationshipType>IS_DIRECTLY_CONSOLIDATED_BY</rr:RelationshipType>
... <rr:RelationshipStatus>ACTIVE</rr:RelationshipStatus></rr:Relationship></rr:RelationshipRecord>
... </rr:RelationshipRecords></rr:RelationshipData>'''
>>> path = pathlib.Path(tempfile.mkdtemp()) / "rr.xml"
>>> _ = path.write_text(xml)
>>> read_gleif([path]).shareholdings[["holder_id", "company_id", "share_min", "share_max"]].values.tolist()
[['PARENT', 'CHILD', 0.5, 1.0]]
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from graphrisk.errors import DataError

__all__ = ["CONSOLIDATION_SHARE", "GleifImport", "read_gleif"]

CONSOLIDATION_SHARE = (0.5, 0.5, 1.0)  # (share, share_min, share_max) of a direct accounting-consolidation parent


@dataclass(frozen=True)
class GleifImport:
    enterprises: pd.DataFrame
    shareholdings: pd.DataFrame
    relationships: pd.DataFrame
    exceptions: pd.DataFrame

    def frames(self) -> dict[str, pd.DataFrame]:
        return {
            "enterprises": self.enterprises,
            "shareholdings": self.shareholdings,
            "gleif_relationships": self.relationships,
            "gleif_exceptions": self.exceptions,
        }


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(el: ET.Element, *names: str) -> ET.Element | None:
    """First descendant along local names, whatever the namespace prefix (LEI-CDF and RR-CDF differ)."""
    cur: ET.Element | None = el
    for name in names:
        if cur is None:
            return None
        cur = next((c for c in cur if _local(c.tag) == name), None)
    return cur


def _text(el: ET.Element, *names: str) -> str:
    found = _child(el, *names)
    return (found.text or "").strip() if found is not None else ""


def read_gleif(paths: Iterable[Path]) -> GleifImport:
    """Read GLEIF L1/L2 XML files (any mix; the record types are recognised by their element names)."""
    ents: dict[str, dict[str, Any]] = {}
    rels: list[dict[str, Any]] = []
    excs: list[dict[str, Any]] = []
    for path in paths:
        try:
            # iterparse keeps memory flat on Golden Copy files of millions of records.
            for _event, el in ET.iterparse(str(path), events=("end",)):
                tag = _local(el.tag)
                if tag == "LEIRecord":
                    lei = _text(el, "LEI")
                    ents[lei] = {
                        "id": lei,
                        "name": _text(el, "Entity", "LegalName") or f"LEI {lei}",
                        "region": _text(el, "Entity", "LegalAddress", "Country"),
                        "status": _text(el, "Entity", "EntityStatus"),
                    }
                    el.clear()
                elif tag == "RelationshipRecord":
                    rel = _child(el, "Relationship")
                    if rel is not None:
                        rels.append(
                            {
                                "start_lei": _text(rel, "StartNode", "NodeID"),
                                "end_lei": _text(rel, "EndNode", "NodeID"),
                                "relationship_type": _text(rel, "RelationshipType"),
                                "status": _text(rel, "RelationshipStatus"),
                            }
                        )
                    el.clear()
                elif tag == "Exception":
                    excs.append(
                        {
                            "lei": _text(el, "LEI"),
                            "category": _text(el, "ExceptionCategory"),
                            "reason": _text(el, "ExceptionReason"),
                        }
                    )
                    el.clear()
        except (OSError, ET.ParseError) as exc:
            raise DataError(f"{path}: not readable GLEIF XML ({exc}). Fix: give LEI-CDF / RR-CDF files.") from None
    rel_frame = pd.DataFrame(rels, columns=["start_lei", "end_lei", "relationship_type", "status"])
    direct = rel_frame[
        (rel_frame["relationship_type"] == "IS_DIRECTLY_CONSOLIDATED_BY") & (rel_frame["status"] == "ACTIVE")
    ]
    share, lo, hi = CONSOLIDATION_SHARE
    holdings = pd.DataFrame(
        {
            "holder_id": direct["end_lei"].to_numpy(),
            "company_id": direct["start_lei"].to_numpy(),
            "share": share,
            "share_min": lo,
            "share_max": hi,
        }
    ).drop_duplicates(["holder_id", "company_id"])
    for lei in [*holdings["holder_id"], *holdings["company_id"]]:
        ents.setdefault(lei, {"id": lei, "name": f"LEI {lei}", "region": "", "status": ""})
    return GleifImport(
        enterprises=pd.DataFrame(list(ents.values()), columns=["id", "name", "region", "status"]),
        shareholdings=holdings.reset_index(drop=True),
        relationships=rel_frame,
        exceptions=pd.DataFrame(excs, columns=["lei", "category", "reason"]),
    )
