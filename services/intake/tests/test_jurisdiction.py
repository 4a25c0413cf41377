"""Listings written into another jurisdiction before writes were bound to it (issue 14: Osaka's
fake agency and 居場所 in 千代田区) can be removed by the governments answering for 千代田区; a
listing written inside its writer's jurisdiction only by its writer."""

from __future__ import annotations

from uuid import uuid4

import pytest

from libs.platform.web.auth import NotAllowed
from services.intake.domain.agency import Agency
from services.intake.domain.errors import UnknownCentre
from services.intake.domain.place import Place
from services.intake.tests.world import ACTORS, AGENCY, CHIYODA, DAY, HOURS, OSAKA, PLACE, intake_world


def _written_by_osaka_into_chiyoda(app) -> tuple:
    agency = Agency.register(id=uuid4(), tenant=OSAKA, name="ハローワーク飯田橋（臨時窓口）", category="hello_work",
                             municipality=CHIYODA, address="千代田区飯田橋1-1", phone="090-0000-0000")
    place = Place.open(id=uuid4(), tenant=OSAKA, programme_id=None, name="居場所", operator="NPO",
                       municipality=CHIYODA, address="千代田区1-1", schedule=HOURS)
    app.save(agency, place)
    return agency.id, place.id


@pytest.mark.parametrize("actor", ["prefecture officer", "municipal officer", "other prefecture's officer"])
def test_a_listing_written_outside_its_writers_jurisdiction_is_removed_by_the_local_governments(actor):
    with intake_world() as app:
        agency_id, place_id = _written_by_osaka_into_chiyoda(app)
        assert app.retire_agency(ACTORS[actor], agency_id, retired_on=DAY).retired_on == DAY
        assert app.close_place(ACTORS[actor], place_id, closed_on=DAY).closed_on == DAY


def test_a_listing_written_inside_its_writers_jurisdiction_is_removed_by_its_writer_only():
    with intake_world() as app:
        _written_by_osaka_into_chiyoda(app)
        with pytest.raises(NotAllowed):  # Tokyo's agency in 千代田区: not 千代田区's to retire
            app.retire_agency(ACTORS["municipal officer"], AGENCY, retired_on=DAY)
        with pytest.raises(UnknownCentre):  # 千代田区's place: not the prefecture's to close
            app.close_place(ACTORS["prefecture officer"], PLACE, closed_on=DAY)
        with pytest.raises(NotAllowed):
            app.retire_agency(ACTORS["other municipality's officer"], AGENCY, retired_on=DAY)
