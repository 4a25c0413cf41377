"""Request and response schemas of the intake API, one family per resource."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

CentreKind = Literal["child", "adult"]
CentreSite = Literal["main", "satellite"]
ClientKind = Literal["person", "family", "agency"]
AgeGroup = Literal["child", "adult"]
Channel = Literal["phone", "visit", "email", "outreach", "other"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CentreCreate(_Strict):
    name: str = Field(min_length=1, max_length=200)
    kind: CentreKind
    site: CentreSite = "main"
    prefecture: str = Field(pattern=r"^[0-9]{6}$", description="全国地方公共団体コード of the prefecture or designated city")


class CentrePublic(BaseModel):
    id: UUID
    name: str
    kind: CentreKind
    site: CentreSite
    prefecture: str
    version: int


class PersonalDetails(_Strict):
    """Sealed per data subject before it enters any event."""

    name: str | None = Field(default=None, max_length=200)
    name_kana: str | None = Field(default=None, max_length=200)
    gender: str | None = Field(default=None, max_length=50)
    birth_date: date | None = None
    address: str | None = Field(default=None, max_length=500)
    phone: str | None = Field(default=None, max_length=50)
    email: str | None = Field(default=None, max_length=200)


class CaseCreate(_Strict):
    centre_id: UUID
    client_kind: ClientKind
    age_group: AgeGroup
    personal_details: PersonalDetails | None = None


class CasePublic(BaseModel):
    id: UUID
    centre_id: UUID
    client_kind: ClientKind
    age_group: AgeGroup
    personal_details: dict | str | None = Field(description="opened for staff of the centre; '[erased]' after erasure")
    consultation_count: int
    version: int


class ConsultationCreate(_Strict):
    channel: Channel
    consulted_by: ClientKind = "person"
    occurred_at: AwareDatetime
    summary: str | None = Field(default=None, max_length=20_000)


class ConsultationPublic(BaseModel):
    id: UUID
    case_id: UUID
    channel: Channel
    consulted_by: ClientKind
    occurred_at: datetime
    summary: str | None
    case_version: int


class ConsultationsPublic(BaseModel):
    data: list[ConsultationPublic]
    count: int


SupportNeed = Literal["visit", "interview", "accompanied_outing", "case_meeting", "information", "place"]


class SupporterRequestCreate(_Strict):
    """The person asks for a ひきこもりサポーター from the municipality that runs dispatch."""

    municipality: str = Field(pattern=r"^[0-9]{6}$", description="全国地方公共団体コード of the dispatching municipality")
    needs: list[SupportNeed] = Field(min_length=1)
    preferences: dict[Literal["supporter_gender", "peer_supporter", "time_of_day"], str] = Field(
        default_factory=dict, description="codes only, never free text (no personal data on the bus)")
    requested_on: date


class SupporterRequestPublic(BaseModel):
    request_id: UUID
    case_id: UUID
    municipality: str
    case_version: int
