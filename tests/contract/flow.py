"""The scripted flow of the client-generation gate (tests/contract/test_generated_client.py).

What an integrator writes against a client generated from the committed openapi/openapi.json
by openapi-python-client: staff sign-in, a patient, an enrolment code, the patient's app
enrolled with it, a block, a red-flag report from the patient, the alert on the worklist,
acknowledged. And the error contract as such a client sees it: a wrong password comes back
parsed as the documented OAuthError (RFC 6749 `invalid_grant`), a duplicate MRN (409) and a
pain score of 11 (422, with its `errors`) as ProblemDetails (RFC 9457).

It uses nothing but the generated package (and httpx, only for the transport the clients are
built on), and the gate type-checks it with the package under `mypy --strict`, with
`disallow_any_expr` for this module: every value here has a real type, narrowed from the
generated unions with isinstance, with no cast and no ignore. `aftercare_client` is the
generated package, which exists only in the gate's temporary folder: this module is imported
by the gate, never collected by pytest.
"""

import uuid
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import TypeVar

import httpx
from aftercare_client import AuthenticatedClient, Client
from aftercare_client.api.alerts import acknowledge_alert, list_alerts
from aftercare_client.api.auth import enroll_patient_app, login_staff
from aftercare_client.api.patients import create_enrollment_code, create_patient
from aftercare_client.api.procedures import create_procedure
from aftercare_client.api.reports import submit_report
from aftercare_client.models import (
    AccessToken,
    AcknowledgeIn,
    AlertOut,
    AlertSeverity,
    AlertStatus,
    Anesthetic,
    EnrollmentCodeOut,
    EnrollRequest,
    GrantType,
    Indication,
    OAuthError,
    OAuthErrorCode,
    PageAlertOut,
    PatientCreate,
    PatientOut,
    PatientTokens,
    ProblemDetails,
    ProcedureCreate,
    ProcedureOut,
    ReportIn,
    ReportResult,
    Severity,
    Side,
    SideEffect,
    SideEffectKind,
    SpinalLevel,
    Steroid,
    TokenRequest,
)
from aftercare_client.types import Response

ParsedT = TypeVar("ParsedT")
ModelT = TypeVar("ModelT")


class FlowError(AssertionError):
    """The API did not answer as its document says."""


def expect(response: Response[ParsedT], status: HTTPStatus, model: type[ModelT]) -> ModelT:
    """The response's parsed body, which must be `model`, with `status`."""
    parsed = response.parsed
    if response.status_code != status or not isinstance(parsed, model):
        raise FlowError(
            f"expected {status.value} {model.__name__}, got {response.status_code.value} "
            f"{type(parsed).__name__}: {response.content[:500]!r}"
        )
    return parsed


def expect_problem(response: Response[ParsedT], status: HTTPStatus) -> ProblemDetails:
    """An RFC 9457 problem with `status`, whose body says the same status."""
    problem = expect(response, status, ProblemDetails)
    if problem.status != status.value or not problem.detail or not problem.title:
        raise FlowError(f"problem body does not match its {status.value}: {problem!r}")
    media_type = response.headers.get("content-type", "")
    if not media_type.startswith("application/problem+json"):
        raise FlowError(f"a problem sent as {media_type!r}, not application/problem+json")
    return problem


def check(condition: bool, what: str) -> None:
    if not condition:
        raise FlowError(what)


async def run_flow(
    base_url: str,
    transport: httpx.AsyncBaseTransport,
    staff_email: str,
    staff_password: str,
    now: datetime,
) -> None:
    """The whole scripted flow against the API at `base_url`, through `transport`; `now` is
    the server's time (the block is half an hour before it, the report a quarter)."""
    anonymous = Client(base_url=base_url, raise_on_unexpected_status=True).set_async_httpx_client(
        httpx.AsyncClient(base_url=base_url, transport=transport)
    )
    # How the generated clients take a transport (their httpx_args take any value).
    over_transport: dict[str, object] = {"transport": transport}
    async with anonymous:
        token = expect(
            await login_staff.asyncio_detailed(
                client=anonymous,
                body=TokenRequest(
                    grant_type=GrantType.PASSWORD, username=staff_email, password=staff_password
                ),
            ),
            HTTPStatus.OK,
            AccessToken,
        )
        # A wrong password is RFC 6749's invalid_grant, with the problem members beside it.
        refused = expect(
            await login_staff.asyncio_detailed(
                client=anonymous,
                body=TokenRequest(
                    grant_type=GrantType.PASSWORD,
                    username=staff_email,
                    password=f"{staff_password}!",
                ),
            ),
            HTTPStatus.BAD_REQUEST,
            OAuthError,
        )
        check(
            refused.error == OAuthErrorCode.INVALID_GRANT
            and refused.status == HTTPStatus.BAD_REQUEST
            and bool(refused.error_description),
            f"a wrong password is not invalid_grant: {refused!r}",
        )

        staff = AuthenticatedClient(
            base_url=base_url,
            token=token.access_token,
            raise_on_unexpected_status=True,
            httpx_args=over_transport,
        )
        async with staff:
            patient, procedure, code = await _register(staff, now)
            enrolled = expect(
                await enroll_patient_app.asyncio_detailed(
                    client=anonymous, body=EnrollRequest(code=code.code)
                ),
                HTTPStatus.OK,
                PatientTokens,
            )
            check(enrolled.patient_id == patient.id, "enrolled as another patient")
            app = AuthenticatedClient(
                base_url=base_url,
                token=enrolled.access_token,
                raise_on_unexpected_status=True,
                httpx_args=over_transport,
            )
            async with app:
                alert_id = await _report_red_flag(app, procedure, now)
            await _work_the_alert(staff, patient, alert_id)


async def _register(
    staff: AuthenticatedClient, now: datetime
) -> tuple[PatientOut, ProcedureOut, EnrollmentCodeOut]:
    """A new patient (and the 409 of a second one with the same MRN), their block and an
    enrolment code for their app."""
    new_patient = PatientCreate(
        display_name="Contract Flow",
        mrn=f"CF-{uuid.uuid4().hex[:12]}",
        timezone="America/Chicago",
    )
    patient = expect(
        await create_patient.asyncio_detailed(client=staff, body=new_patient),
        HTTPStatus.CREATED,
        PatientOut,
    )
    check(patient.mrn == new_patient.mrn, "the patient came back with another MRN")
    expect_problem(
        await create_patient.asyncio_detailed(client=staff, body=new_patient),
        HTTPStatus.CONFLICT,
    )

    block = ProcedureCreate(
        performed_at=now - timedelta(minutes=30),
        side=Side.LEFT,
        levels=[SpinalLevel.L2, SpinalLevel.L3],
        indication=Indication.CRPS,
        baseline_pain=7,
        sedation=False,
        anesthetic=Anesthetic(drug="bupivacaine", concentration_percent=0.25, volume_ml=10),
        steroid=Steroid(drug="dexamethasone", dose_mg=4),
    )
    procedure = expect(
        await create_procedure.asyncio_detailed(patient.id, client=staff, body=block),
        HTTPStatus.CREATED,
        ProcedureOut,
    )
    check(procedure.patient_id == patient.id, "the block belongs to another patient")
    code = expect(
        await create_enrollment_code.asyncio_detailed(patient.id, client=staff),
        HTTPStatus.CREATED,
        EnrollmentCodeOut,
    )
    return patient, procedure, code


async def _report_red_flag(
    app: AuthenticatedClient, procedure: ProcedureOut, now: datetime
) -> uuid.UUID:
    """The patient's app: a pain score of 11 is a 422 naming the field; new difficulty
    breathing is an emergency alert. The alert's id."""
    out_of_range = ReportIn(
        client_report_id=uuid.uuid4(),
        recorded_at=now - timedelta(minutes=15),
        pain_score=11,
    )
    invalid = expect_problem(
        await submit_report.asyncio_detailed(procedure.id, client=app, body=out_of_range),
        HTTPStatus.UNPROCESSABLE_ENTITY,
    )
    issues = invalid.errors if isinstance(invalid.errors, list) else []
    check(
        any(issue.loc[-1:] == ["pain_score"] and issue.msg for issue in issues),
        f"the 422 does not name pain_score: {invalid!r}",
    )

    red_flag = ReportIn(
        client_report_id=uuid.uuid4(),
        recorded_at=now - timedelta(minutes=15),
        pain_score=4,
        relief_percent=40,
        side_effects=[SideEffect(kind=SideEffectKind.BREATHING_DIFFICULTY, severity=Severity.MILD)],
    )
    result = expect(
        await submit_report.asyncio_detailed(procedure.id, client=app, body=red_flag),
        HTTPStatus.CREATED,
        ReportResult,
    )
    raised = [alert for alert in result.alerts if alert.rule_id == "breathing_difficulty"]
    check(len(raised) == 1, f"no breathing_difficulty alert: {result.alerts!r}")
    check(raised[0].severity == AlertSeverity.EMERGENCY, f"not an emergency: {raised[0]!r}")
    return raised[0].id


async def _work_the_alert(
    staff: AuthenticatedClient, patient: PatientOut, alert_id: uuid.UUID
) -> None:
    """Staff find the alert on the worklist and acknowledge it."""
    worklist = expect(
        await list_alerts.asyncio_detailed(client=staff, patient_id=patient.id),
        HTTPStatus.OK,
        PageAlertOut,
    )
    listed = [alert for alert in worklist.items if alert.id == alert_id]
    check(len(listed) == 1, f"the alert is not on the worklist: {worklist!r}")
    check(listed[0].status == AlertStatus.OPEN, f"the alert is not open: {listed[0]!r}")

    acknowledged = expect(
        await acknowledge_alert.asyncio_detailed(
            alert_id, client=staff, body=AcknowledgeIn(note="Called the patient; on the way in.")
        ),
        HTTPStatus.OK,
        AlertOut,
    )
    check(acknowledged.status == AlertStatus.ACKNOWLEDGED, f"not acknowledged: {acknowledged!r}")
    check(acknowledged.acknowledged_by is not None, "no one acknowledged it")
