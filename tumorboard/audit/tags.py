"""Every audit event tag and subject type, in one place (modelled on warehouse's ``events/tags.py``).

A tag reads ``domain:subject:action`` (``case:case:register``). :func:`~tumorboard.audit.services.record_event`
accepts only members of :class:`Tag` and :class:`SubjectType`, so a misspelt tag fails at type check and at the
call instead of leaving a row nobody finds with the audit log's filter. The stored column stays text: old rows and
the prefix filter (``conference:session``) read as before.

The labels are German source strings marked with ``N_``; the audit log translates them for the reader.
``tests/audit/test_tags.py`` checks that every tag in the code is registered and every registered one has a label.
"""

from __future__ import annotations

import enum

from tumorboard.i18n import N_


class Tag(enum.StrEnum):
    """``domain:subject:action``; the member name repeats it (subject left out where it is the domain)."""

    ATTENDANCE_CHECK_IN = "attendance:participant:check_in"
    ATTENDANCE_CORRECT = "attendance:participant:correct"
    ATTENDANCE_UNDO = "attendance:participant:undo"
    ATTENDANCE_LEAVE = "attendance:participant:leave"

    AUTH_FEED_TOKEN_RENEW = "auth:feed_token:renew"  # noqa: S105 (a tag, not a secret)
    AUTH_FEED_TOKEN_REVOKE = "auth:feed_token:revoke"  # noqa: S105
    AUTH_LOGIN_FAILURE = "auth:login:failure"
    AUTH_LOGIN_SUCCESS = "auth:login:success"
    AUTH_LOGIN_THROTTLED = "auth:login:throttled"
    AUTH_REAUTH_FAILURE = "auth:reauth:failure"
    AUTH_REAUTH_SUCCESS = "auth:reauth:success"
    AUTH_REAUTH_THROTTLED = "auth:reauth:throttled"
    AUTH_SESSION_LOGOUT = "auth:session:logout"
    AUTH_USER_CREATE = "auth:user:create"
    AUTH_USER_LOCALE = "auth:user:locale"

    CASE_AGENDA_EXPORT = "case:agenda:export"
    CASE_AGENDA_VERSION = "case:agenda:version"
    CASE_CHECKLIST_CONFIGURE = "case:checklist:configure"
    CASE_CHECKLIST_MARK = "case:checklist:mark"
    CASE_DOCUMENT_ADD = "case:document:add"
    CASE_DOCUMENT_VIEW = "case:document:view"
    CASE_LIST_REORDER = "case:list:reorder"
    CASE_EDIT = "case:case:edit"
    CASE_MOVE = "case:case:move"
    CASE_PRESENTER = "case:case:presenter"
    CASE_REGISTER = "case:case:register"
    CASE_STATUS = "case:case:status"
    CASE_VIEW = "case:case:view"
    CASE_WITHDRAW = "case:case:withdraw"

    CME_ACCREDITATION_SET = "cme:accreditation:set"
    CME_ATTENDANCE_CORRECT = "cme:attendance:correct"
    CME_EIV_PUSH = "cme:eiv:push"

    CONFERENCE_BOARD_CREATE = "conference:board:create"
    CONFERENCE_BOARD_UPDATE = "conference:board:update"
    CONFERENCE_SESSION_ADD = "conference:session:add"
    CONFERENCE_SESSION_CANCEL = "conference:session:cancel"
    CONFERENCE_SESSION_CASES = "conference:session:cases"
    CONFERENCE_SESSION_GENERATE = "conference:session:generate"
    CONFERENCE_SESSION_MOVE = "conference:session:move"
    CONFERENCE_SESSION_REALIGN = "conference:session:realign"
    CONFERENCE_SESSION_REINSTATE = "conference:session:reinstate"

    IMAGING_INSTANCE_CONFLICT = "imaging:instance:conflict"
    IMAGING_STORE_RECONCILE = "imaging:store:reconcile"
    IMAGING_STUDY_ASSIGN = "imaging:study:assign"
    IMAGING_STUDY_COMPLETE = "imaging:study:complete"
    IMAGING_STUDY_PURGE = "imaging:study:purge"
    IMAGING_STUDY_RECEIVE = "imaging:study:receive"
    IMAGING_STUDY_REJECT = "imaging:study:reject"
    IMAGING_STUDY_REOPEN = "imaging:study:reopen"
    IMAGING_STUDY_UNASSIGN = "imaging:study:unassign"

    PARTNER_CREATE = "partner:partner:create"
    PARTNER_ENDPOINT_CREATE = "partner:endpoint:create"
    PARTNER_ENDPOINT_DELETE = "partner:endpoint:delete"

    PATIENT_CREATE = "patient:patient:create"
    PATIENT_REGISTRY_UPDATE = "patient:patient:registry_data"
    PATIENT_SEARCH = "patient:search:query"

    PROTOCOL_FOLLOWUP_RECORD = "protocol:followup:record"
    PROTOCOL_PARTICIPANT_CORRECT = "protocol:participant:correct"
    PROTOCOL_QUORUM_NONCONFORMITY = "protocol:quorum:nonconformity"
    PROTOCOL_RECOMMENDATION_AMEND = "protocol:recommendation:amend"
    PROTOCOL_RECOMMENDATION_RECORD = "protocol:recommendation:record"
    PROTOCOL_RECOMMENDATION_UPDATE = "protocol:recommendation:update"
    PROTOCOL_RECOMMENDATION_VIEW = "protocol:recommendation:view"
    PROTOCOL_VERSION_DOWNLOAD = "protocol:version:download"
    PROTOCOL_VERSION_SIGN = "protocol:version:sign"

    QM_BUNDLE_REQUEST = "qm:bundle:request"
    QM_BUNDLE_BUILD = "qm:bundle:build"
    QM_BUNDLE_DOWNLOAD = "qm:bundle:download"
    REGISTRY_OBDS_DOWNLOAD = "registry:obds:download"
    REGISTRY_OBDS_EXPORT = "registry:obds:export"
    QM_INDICATOR_DEFINE = "qm:indicator:define"
    QM_PRIMARY_CASES_IMPORT = "qm:primary_cases:import"
    QM_QUOTAS_VIEW = "qm:quotas:view"

    SECURITY_DICOM_REJECT = "security:dicom:reject"

    ACCESS_EMERGENCY_GRANT = "access:emergency:grant"
    ACCESS_MEMBER_ADD = "access:member:add"
    ACCESS_MEMBER_REMOVE = "access:member:remove"
    ACCESS_MEMBER_ROLE = "access:member:role"
    ATTENDANCE_LIVE_VIEW = "attendance:live:view"
    CASE_LIST_VIEW = "case:list:view"
    CASE_MINE_VIEW = "case:mine:view"
    IMAGING_PREVIEW_VIEW = "imaging:preview:view"
    IMAGING_TRIAGE_VIEW = "imaging:triage:view"
    PROTOCOL_DRAFT_DOWNLOAD = "protocol:draft:download"
    PROTOCOL_VIEW = "protocol:protocol:view"

    IMAGING_MAIL_DISCARD = "imaging:mail:discard"
    IMAGING_MAIL_RAW_DOWNLOAD = "imaging:mail:raw_download"
    IMAGING_MAIL_PROCESS = "imaging:mail:process"
    IMAGING_MAIL_QUARANTINE = "imaging:mail:quarantine"
    IMAGING_MAIL_RECEIVE = "imaging:mail:receive"
    IMAGING_MAIL_RELEASE = "imaging:mail:release"
    PARTNER_MAIL_SENDER_CREATE = "partner:mail_sender:create"
    PARTNER_MAIL_SENDER_DELETE = "partner:mail_sender:delete"
    IMAGING_MAIL_PURGE = "imaging:mail:purge"


class SubjectType(enum.StrEnum):
    """What ``subject_id`` of an event refers to."""

    ATTENDANCE = "attendance"  #: attendance.id
    BOARD = "board"  #: board.id
    CASE = "case"  #: case_registration.id
    DICOM_ASSOCIATION = "dicom_association"  #: a refused association: "<calling AE>@<address>"
    IMAGING_STORE = "imaging_store"  #: the image store as a whole (start-up reconciliation)
    INBOX = "inbox"  #: the triage inbox as a whole
    IMAGING_STUDY = "imaging_study"  #: imaging_study.id
    INDICATOR = "indicator"  #: qm_indicator_definition.id (the new version)
    MAIL_MESSAGE = "mail_message"  #: mail_message.id (DICOM E-Mail)
    PARTNER = "partner"  #: partner.id
    OBDS_EXPORT = "obds_export"  #: obds_export.id
    PATIENT = "patient"  #: patient.id
    PRIMARY_CASE_IMPORT = "primary_case_import"  #: qm_primary_case_import.id
    QM_BUNDLE = "qm_bundle"  #: qm_bundle_job.id
    RECOMMENDATION = "recommendation"  #: recommendation.id
    SEARCH = "search"  #: a patient search ("-": the query itself is not kept)
    SERIES = "series"  #: imaging_series.id
    SESSION = "session"  #: conference_session.id
    USER = "user"  #: user_account.id
    USERNAME = "username"  #: a login name typed at the login form (it may not exist)


#: What the audit log shows for a tag (German source string, translated for the reader).
TAG_LABELS: dict[Tag, str] = {
    Tag.ATTENDANCE_CHECK_IN: N_("Teilnahme eingetragen"),
    Tag.ATTENDANCE_CORRECT: N_("Check-in korrigiert"),
    Tag.ATTENDANCE_UNDO: N_("Check-in zurückgenommen"),
    Tag.ATTENDANCE_LEAVE: N_("Teilnahme beendet"),
    Tag.AUTH_FEED_TOKEN_RENEW: N_("Kalender-Link erneuert"),
    Tag.AUTH_FEED_TOKEN_REVOKE: N_("Kalender-Link widerrufen"),
    Tag.AUTH_LOGIN_FAILURE: N_("Anmeldung fehlgeschlagen"),
    Tag.AUTH_LOGIN_SUCCESS: N_("Anmeldung erfolgreich"),
    Tag.AUTH_LOGIN_THROTTLED: N_("Anmeldung gebremst (zu viele Fehlversuche)"),
    Tag.AUTH_REAUTH_FAILURE: N_("Passwortbestätigung fehlgeschlagen"),
    Tag.AUTH_REAUTH_SUCCESS: N_("Passwort bestätigt"),
    Tag.AUTH_REAUTH_THROTTLED: N_("Passwortbestätigung gebremst (zu viele Fehlversuche)"),
    Tag.AUTH_SESSION_LOGOUT: N_("Abgemeldet, alle Sitzungen beendet"),
    Tag.AUTH_USER_CREATE: N_("Benutzerkonto angelegt"),
    Tag.AUTH_USER_LOCALE: N_("Sprache des Benutzerkontos geändert"),
    Tag.CASE_AGENDA_EXPORT: N_("Tagesordnung heruntergeladen"),
    Tag.CASE_AGENDA_VERSION: N_("Neue Version der Tagesordnung"),
    Tag.CASE_CHECKLIST_CONFIGURE: N_("Checkliste eingerichtet"),
    Tag.CASE_CHECKLIST_MARK: N_("Checklistenpunkt abgehakt oder zurückgenommen"),
    Tag.CASE_DOCUMENT_ADD: N_("Dokument hinzugefügt"),
    Tag.CASE_DOCUMENT_VIEW: N_("Dokument angesehen"),
    Tag.CASE_LIST_REORDER: N_("Fallliste umsortiert"),
    Tag.CASE_EDIT: N_("Fall bearbeitet"),
    Tag.CASE_MOVE: N_("Fall verlegt"),
    Tag.CASE_PRESENTER: N_("Vorstellende Person geändert"),
    Tag.CASE_REGISTER: N_("Fall angemeldet"),
    Tag.CASE_STATUS: N_("Fallstatus geändert"),
    Tag.CASE_VIEW: N_("Fall angesehen"),
    Tag.CASE_WITHDRAW: N_("Fall zurückgezogen"),
    Tag.CONFERENCE_BOARD_CREATE: N_("Tumorkonferenz angelegt"),
    Tag.CONFERENCE_BOARD_UPDATE: N_("Tumorkonferenz geändert"),
    Tag.CONFERENCE_SESSION_ADD: N_("Zusätzliche Sitzung angelegt"),
    Tag.CONFERENCE_SESSION_CANCEL: N_("Sitzung abgesagt"),
    Tag.CONFERENCE_SESSION_CASES: N_("Fälle einer abgesagten oder verschobenen Sitzung: Entscheidung"),
    Tag.CONFERENCE_SESSION_GENERATE: N_("Sitzungen der Serie erzeugt"),
    Tag.CONFERENCE_SESSION_MOVE: N_("Sitzung verschoben"),
    Tag.CME_ACCREDITATION_SET: N_("CME-Akkreditierung (VNR, Kategorie, Punkte) gespeichert"),
    Tag.CME_ATTENDANCE_CORRECT: N_("CME-Teilnahme korrigiert"),
    Tag.CME_EIV_PUSH: N_("Teilnahme an die Ärztekammer gemeldet (EIV)"),
    Tag.CONFERENCE_SESSION_REALIGN: N_("Sitzung an geänderte Serie angepasst"),
    Tag.CONFERENCE_SESSION_REINSTATE: N_("Sitzung wieder aufgenommen"),
    Tag.IMAGING_INSTANCE_CONFLICT: N_("Bild mit abweichendem Inhalt erneut empfangen"),
    Tag.IMAGING_STORE_RECONCILE: N_("Bildspeicher beim Start abgeglichen"),
    Tag.IMAGING_STUDY_ASSIGN: N_("Bildgebung einem Fall zugeordnet"),
    Tag.IMAGING_STUDY_COMPLETE: N_("Bildgebung vollständig"),
    Tag.IMAGING_STUDY_REJECT: N_("Studie im Bildeingang abgelehnt (irrtümlich gesendet)"),
    Tag.IMAGING_STUDY_PURGE: N_("Bildgebung gelöscht"),
    Tag.IMAGING_STUDY_RECEIVE: N_("Bildgebung empfangen"),
    Tag.IMAGING_STUDY_REOPEN: N_("Bildgebung wieder im Empfang"),
    Tag.IMAGING_STUDY_UNASSIGN: N_("Zuordnung der Bildgebung aufgehoben"),
    Tag.PARTNER_CREATE: N_("Partner angelegt"),
    Tag.PARTNER_ENDPOINT_CREATE: N_("DICOM-Absender eines Partners zugelassen"),
    Tag.PARTNER_ENDPOINT_DELETE: N_("DICOM-Absender eines Partners entfernt"),
    Tag.PATIENT_CREATE: N_("Patient angelegt"),
    Tag.PATIENT_REGISTRY_UPDATE: N_("Registerangaben des Patienten geändert"),
    Tag.PATIENT_SEARCH: N_("Patientensuche"),
    Tag.PROTOCOL_FOLLOWUP_RECORD: N_("Umsetzung der Empfehlung erfasst"),
    Tag.PROTOCOL_PARTICIPANT_CORRECT: N_("Teilnahme im Protokoll korrigiert"),
    Tag.PROTOCOL_QUORUM_NONCONFORMITY: N_("Empfehlung ohne Quorum (Abweichung)"),
    Tag.PROTOCOL_RECOMMENDATION_AMEND: N_("Empfehlung nachträglich berichtigt"),
    Tag.PROTOCOL_RECOMMENDATION_RECORD: N_("Empfehlung erfasst"),
    Tag.PROTOCOL_RECOMMENDATION_UPDATE: N_("Empfehlung geändert"),
    Tag.PROTOCOL_RECOMMENDATION_VIEW: N_("Empfehlung angesehen"),
    Tag.PROTOCOL_VERSION_DOWNLOAD: N_("Protokoll heruntergeladen"),
    Tag.PROTOCOL_VERSION_SIGN: N_("Protokoll unterschrieben"),
    Tag.QM_BUNDLE_REQUEST: N_("QM-Nachweispaket angefordert"),
    Tag.QM_BUNDLE_BUILD: N_("QM-Nachweispaket erstellt"),
    Tag.QM_BUNDLE_DOWNLOAD: N_("QM-Nachweispaket heruntergeladen"),
    Tag.REGISTRY_OBDS_DOWNLOAD: N_("oBDS-Export heruntergeladen"),
    Tag.REGISTRY_OBDS_EXPORT: N_("oBDS-Export an das Krebsregister erstellt"),
    Tag.QM_INDICATOR_DEFINE: N_("Kennzahl-Definition geändert (neue Version)"),
    Tag.QM_PRIMARY_CASES_IMPORT: N_("Primärfälle importiert"),
    Tag.QM_QUOTAS_VIEW: N_("Nie vorgestellte Primärfälle gelesen"),
    Tag.SECURITY_DICOM_REJECT: N_("DICOM-Verbindung abgelehnt"),
    Tag.ACCESS_EMERGENCY_GRANT: N_("Notfallzugriff gewährt"),
    Tag.ACCESS_MEMBER_ADD: N_("Mitglied einer Konferenz hinzugefügt"),
    Tag.ACCESS_MEMBER_REMOVE: N_("Mitglied aus einer Konferenz entfernt"),
    Tag.ACCESS_MEMBER_ROLE: N_("Rolle in einer Konferenz geändert"),
    Tag.ATTENDANCE_LIVE_VIEW: N_("Live-Seite einer Sitzung gelesen"),
    Tag.CASE_LIST_VIEW: N_("Fallliste einer Sitzung gelesen"),
    Tag.CASE_MINE_VIEW: N_("„Meine Fälle“ gelesen"),
    Tag.IMAGING_PREVIEW_VIEW: N_("Bildvorschau gelesen"),
    Tag.IMAGING_TRIAGE_VIEW: N_("Bildeingang gelesen"),
    Tag.PROTOCOL_DRAFT_DOWNLOAD: N_("Protokollentwurf heruntergeladen"),
    Tag.PROTOCOL_VIEW: N_("Protokoll einer Sitzung gelesen"),
    Tag.IMAGING_MAIL_DISCARD: N_("DICOM-E-Mail verworfen"),
    Tag.IMAGING_MAIL_RAW_DOWNLOAD: N_("Rohdaten einer DICOM-E-Mail heruntergeladen"),
    Tag.IMAGING_MAIL_PROCESS: N_("DICOM-E-Mail verarbeitet"),
    Tag.IMAGING_MAIL_QUARANTINE: N_("DICOM-E-Mail in Quarantäne"),
    Tag.IMAGING_MAIL_RECEIVE: N_("DICOM-E-Mail empfangen"),
    Tag.IMAGING_MAIL_RELEASE: N_("DICOM-E-Mail aus der Quarantäne freigegeben"),
    Tag.PARTNER_MAIL_SENDER_CREATE: N_("Mail-Absender eines Partners angelegt"),
    Tag.PARTNER_MAIL_SENDER_DELETE: N_("Mail-Absender eines Partners entfernt"),
    Tag.IMAGING_MAIL_PURGE: N_("Rohdaten einer DICOM-E-Mail nach Ablauf der Aufbewahrungsfrist gelöscht"),
}

#: What the audit log shows for a subject type.
SUBJECT_LABELS: dict[SubjectType, str] = {
    SubjectType.ATTENDANCE: N_("Teilnahme"),
    SubjectType.BOARD: N_("Tumorkonferenz"),
    SubjectType.CASE: N_("Fall"),
    SubjectType.DICOM_ASSOCIATION: N_("DICOM-Verbindung"),
    SubjectType.IMAGING_STORE: N_("Bildspeicher"),
    SubjectType.IMAGING_STUDY: N_("Bildgebung"),
    SubjectType.INDICATOR: N_("Kennzahl-Definition"),
    SubjectType.PARTNER: N_("Partner"),
    SubjectType.OBDS_EXPORT: N_("oBDS-Export"),
    SubjectType.PATIENT: N_("Patient"),
    SubjectType.PRIMARY_CASE_IMPORT: N_("Primärfall-Import"),
    SubjectType.QM_BUNDLE: N_("QM-Nachweispaket"),
    SubjectType.RECOMMENDATION: N_("Empfehlung"),
    SubjectType.SEARCH: N_("Suche"),
    SubjectType.SESSION: N_("Sitzung"),
    SubjectType.USER: N_("Benutzerkonto"),
    SubjectType.USERNAME: N_("Anmeldename"),
    SubjectType.INBOX: N_("Bildeingang"),
    SubjectType.SERIES: N_("Bildserie"),
    SubjectType.MAIL_MESSAGE: N_("DICOM-E-Mail"),
}


def tag_label(tag: str) -> str:
    """The German label of a stored tag; the tag itself for one no longer registered (old rows stay readable)."""
    return TAG_LABELS[Tag(tag)] if tag in _TAG_VALUES else tag


def subject_label(subject_type: str) -> str:
    """The German label of a stored subject type; the stored text for one no longer registered."""
    return SUBJECT_LABELS[SubjectType(subject_type)] if subject_type in _SUBJECT_VALUES else subject_type


_TAG_VALUES = frozenset(t.value for t in Tag)
_SUBJECT_VALUES = frozenset(s.value for s in SubjectType)
