import pytest

from tests.helpers import Api, report_body

pytestmark = pytest.mark.anyio


async def test_end_to_end_flow(api: Api) -> None:
    clinic = api.world.a
    patient, procedure = await api.patient_with_procedure(clinic)
    assert procedure["sequence_number"] == 1
    response = await api.post_report(patient, procedure["id"], report_body())
    assert response.status_code == 201, response.text
    assert response.json()["guidance"]["level"] == "none"
