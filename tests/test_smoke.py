import pytest

from tests.helpers import Api, report_body

pytestmark = pytest.mark.anyio


async def test_end_to_end_flow(api: Api) -> None:
    clinic = api.world.a
    patient, procedure = await api.patient_with_procedure(clinic)
    assert procedure["sequence_number"] == 1
    response = await api.post_report(patient, procedure["id"], report_body())
    assert response.status_code == 201, response.text
    # Mild soreness 15 minutes after the block is an expected effect: no alert.
    assert response.json()["guidance"]["level"] == "expected"
    assert response.json()["alerts"] == []
