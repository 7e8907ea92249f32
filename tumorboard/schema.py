"""Imports every domain's models so that ``Base.metadata`` is complete (Alembic, tests)."""

from tumorboard.access import models as access_models
from tumorboard.attendance import models as attendance_models
from tumorboard.audit import models as audit_models
from tumorboard.auth import models as auth_models
from tumorboard.cases import models as case_models
from tumorboard.cme import models as cme_models
from tumorboard.conferences import models as conference_models
from tumorboard.db import Base
from tumorboard.disciplines import models as discipline_models
from tumorboard.imaging import models as imaging_models
from tumorboard.imaging.mail import models as mail_models
from tumorboard.partners import models as partner_models
from tumorboard.patients import models as patient_models
from tumorboard.protocol import models as protocol_models
from tumorboard.qm import models as qm_models
from tumorboard.registry import models as registry_models

__all__ = [
    "Base",
    "access_models",
    "attendance_models",
    "audit_models",
    "auth_models",
    "case_models",
    "cme_models",
    "conference_models",
    "discipline_models",
    "imaging_models",
    "mail_models",
    "partner_models",
    "patient_models",
    "protocol_models",
    "qm_models",
    "registry_models",
]

metadata = Base.metadata
