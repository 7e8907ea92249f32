"""Demo partner sites (invented): two hospitals whose DICOM gateways send from 127.0.0.1 in the demo."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from tumorboard.auth.actors import Actor
from tumorboard.partners.services import add_endpoint, create_partner

DEMO_PARTNERS = (
    ("Klinikum Nordstadt (Demo)", "Radiologie, Tel. 0000 111-0", "NORDSTADT_GW", 120),
    ("Praxis für Radiologie am Südpark (Demo)", "Praxis, Tel. 0000 222-0", "SUEDPARK_PACS", 300),
)


def load_demo_partners(session: Session, *, at: dt.datetime, actor: Actor) -> None:
    """Two partners with one AE title each, allowed from 127.0.0.1 (try: storescu -aet NORDSTADT_GW -aec
    TUMORBOARD 127.0.0.1 11112 FILE)."""
    for name, contact, ae_title, quiet in DEMO_PARTNERS:
        partner = create_partner(session, name=name, contact=contact, quiet_period_seconds=quiet, at=at, actor=actor)
        add_endpoint(session, partner, ae_title=ae_title, address="127.0.0.1", at=at, actor=actor)
