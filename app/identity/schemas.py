"""Request and response bodies of the identity routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from app.core.clock import Moment
from app.core.text import PLAIN
from app.identity.identifiers import is_citizen_id, is_phone
from app.identity.models import AccountKind, AccountStatus, ClientScope, OfficialRole


def _phone(value: str) -> str:
    compact = value.replace(" ", "").replace(".", "")
    if not is_phone(compact):
        raise ValueError("must be a Vietnamese phone number: +84 or 0 followed by 9 or 10 digits")
    return compact


def _citizen_id(value: str) -> str:
    if not is_citizen_id(value):
        raise ValueError("must be a 12-digit personal identification number")
    return value


Phone = Annotated[str, StringConstraints(max_length=20), AfterValidator(_phone)]
CitizenId = Annotated[str, AfterValidator(_citizen_id)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=400), PLAIN]
Address = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000), PLAIN]
Text500 = Annotated[str, StringConstraints(min_length=1, max_length=500), PLAIN]
Subject = Annotated[str, StringConstraints(min_length=1, max_length=255), PLAIN]
AgencyCode = Annotated[str, StringConstraints(min_length=1, max_length=64), PLAIN]
ClientId = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:@-]+$")]
StaffRole = Annotated[OfficialRole, Field(description="system_admin only by a system administrator")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegistrationIn(_In):
    """Identifiers come from the token, never from the body."""

    email: EmailStr
    phone: Phone | None = None
    name: Name | None = Field(default=None, description="Organisations only: the registered business name.")
    address: Address | None = Field(default=None, description="Organisations only: the head office address.")


class ContactsPatch(_In):
    email: EmailStr | None = None
    phone: Phone | None = None
    address: Address | None = None


class AccountOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: AccountKind
    citizen_id: str | None = None
    tax_code: str | None = None
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    address: str | None = None
    agency_code: str | None = Field(default=None, description="Officials: their agency.")
    roles: list[str] = Field(default_factory=list, description="Officials: their roles.")
    status: AccountStatus
    created_at: datetime


_VALID_UNTIL = ("The instant the authorisation ends, with an offset (a term \"until the end of 31/12/2027\" is "
                "`2028-01-01T00:00:00+07:00`); in the future. Null or left out: until withdrawn.")
_VALID_FROM = ("The instant the authorisation starts, with an offset (a term \"from 01/03/2027\" is "
               "`2027-03-01T00:00:00+07:00`); in the future, and before `valid_until` when both are set. Null or "
               "left out: from when it is given.")


class RepresentativeIn(_In):
    citizen_id: CitizenId
    name: Name = Field(description="The citizen's full name as the identity record has it (case and spacing aside). "
                                   "An organisation authorises someone it knows: by identification number alone, "
                                   "it could look up who is registered and their names.")
    valid_from: Moment | None = Field(default=None, description=_VALID_FROM)
    valid_until: Moment | None = Field(default=None, description=_VALID_UNTIL)


class RepresentativePatch(_In):
    """Move a mandate's start or end (an expired one too: a renewed authorisation). To end it now, DELETE it."""

    valid_from: Moment | None = Field(default=None, description=_VALID_FROM + " Null: no start (in force at once, "
                                                                              "if it had not begun). Left out: "
                                                                              "unchanged.")
    valid_until: Moment | None = Field(default=None, description=_VALID_UNTIL + " Left out: unchanged.")


class RepresentativeOut(BaseModel):
    id: uuid.UUID
    organisation_id: uuid.UUID
    citizen_account_id: uuid.UUID
    citizen_id: str
    name: str | None
    created_at: datetime
    valid_from: datetime | None = Field(description="When the authorisation starts; null: from when it was given.")
    valid_until: datetime | None = Field(description="When the authorisation ends; null: until withdrawn.")
    in_force: bool = Field(description="Whether the citizen may act for the organisation now (`X-On-Behalf-Of`).")


class OfficialIn(_In):
    """An official is bound to the (issuer, subject) given here, never matched by email."""

    issuer: Text500
    subject: Subject
    email: EmailStr
    name: Name
    agency_code: AgencyCode
    roles: list[StaffRole] = Field(default_factory=list, max_length=6)


class OfficialPatch(_In):
    roles: list[StaffRole] | None = Field(default=None, max_length=6)
    agency_code: AgencyCode | None = None
    status: AccountStatus | None = None
    name: Name | None = None
    email: EmailStr | None = None


class OfficialOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: AccountKind
    name: str | None
    email: str | None
    agency_code: str | None
    roles: list[str]
    status: AccountStatus
    created_at: datetime


class ClientIn(_In):
    """An integrator system; its tokens carry `sub` (default: the client id) and `azp` = `client_id`."""

    client_id: ClientId
    name: Name
    issuer: Text500 | None = Field(default=None, description="Defaults to the configured identity provider.")
    subject: Subject | None = Field(default=None, description="Defaults to `client_id`.")
    scopes: list[ClientScope] = Field(default_factory=list, max_length=20)
    agency_codes: list[AgencyCode] = Field(default_factory=list, max_length=500)


class ClientPatch(_In):
    name: Name | None = None
    scopes: list[ClientScope] | None = Field(default=None, max_length=20)
    agency_codes: list[AgencyCode] | None = Field(default=None, max_length=500)
    status: AccountStatus | None = None


class ClientOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: AccountKind
    client_id: str | None
    name: str | None
    scopes: list[str]
    agency_codes: list[str]
    status: AccountStatus
    created_at: datetime
