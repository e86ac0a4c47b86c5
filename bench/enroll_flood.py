"""An enrolment flood against the real service (issue 12): a patient's report POST latency.

    .venv/bin/python bench/enroll_flood.py [--only sqlite|postgresql] [--clients 50]
        [--seconds 10] [--addresses 1]

Serves `aftercare serve --no-worker` on a fresh database (bench/login_flood.py's harness),
makes an admin, a patient with a block and the patient's app (a real enrolment). The probe
is the patient's POST /v1/procedures/{id}/reports, 20 a second, one at a time, idle and while
`--clients` loops POST /v1/auth/enroll with wrong codes at full speed (never waiting out a
Retry-After). The probe posts far more reports than a patient does, so the server runs with
AFTERCARE_REPORTS_PER_CALLER_PER_MINUTE raised out of its way. Target: the probe's p99 within
2x of idle.
"""

import argparse
import asyncio
import os
import secrets
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.login_flood import (  # noqa: E402
    Request,
    Service,
    database,
    flooded,
    probe,
    report,
)

PROBE_ALLOWANCE = {"AFTERCARE_REPORTS_PER_CALLER_PER_MINUTE": "1000000"}


def enroll_attempt(base: str) -> Request:
    async def attempt(client: httpx.AsyncClient) -> httpx.Response:
        code = "-".join(secrets.token_hex(2).upper() for _ in range(3))
        return await client.post(f"{base}/v1/auth/enroll", json={"code": code})

    return attempt


async def enrolled_patient(client: httpx.AsyncClient, email: str, password: str) -> tuple[str, str]:
    """(report path, the patient app's bearer token), made through the API."""
    login = await client.post("/v1/auth/token", data={"username": email, "password": password})
    staff = {"Authorization": f"Bearer {login.json()['access_token']}"}
    patient = {"mrn": "FLOOD-1", "display_name": "Flood Patient", "timezone": "UTC"}
    made = (await client.post("/v1/patients", json=patient, headers=staff)).json()
    performed = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    block = {"performed_at": performed, "side": "left", "levels": ["L2", "L3"]}
    block |= {"indication": "crps", "baseline_pain": 7, "sedation": False}
    procedure = await client.post(
        f"/v1/patients/{made['id']}/procedures", json=block, headers=staff
    )
    procedure.raise_for_status()
    code = await client.post(f"/v1/patients/{made['id']}/enrollment-codes", headers=staff)
    tokens = await client.post("/v1/auth/enroll", json={"code": code.json()["code"]})
    path = f"/v1/procedures/{procedure.json()['id']}/reports"
    return path, tokens.json()["access_token"]


async def measure(service: Service, clients: int, seconds: float, addresses: int) -> None:
    async with httpx.AsyncClient(base_url=service.base, timeout=60) as client:
        path, token = await enrolled_patient(client, *service.credentials)
        headers = {"Authorization": f"Bearer {token}"}

        async def post_report() -> int:
            body = {
                "client_report_id": str(uuid.uuid4()),
                "recorded_at": datetime.now(UTC).isoformat(),
                "pain_score": 3,
                "relief_percent": 60,
            }
            return (await client.post(path, json=body, headers=headers)).status_code

        await probe(post_report, 2)  # warm-up
        idle = await probe(post_report, seconds)
        flood = await flooded(enroll_attempt, service.base, clients, addresses, seconds + 3)
        busy = await probe(post_report, seconds)
        seen = await flood
    figures = report(f"enrolment flood ({clients} clients):", idle, busy, {})
    print("  flood answers:", dict(sorted(seen.items())))
    print(f"  target: report p99 within 2x idle: {figures['p99_ratio'] <= 2}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--addresses", type=int, default=1)
    args = parser.parse_args()
    os.environ["BENCH_FLOOD_HAMMER"] = "1"  # full speed: refusals are not waited out
    for kind in [args.only] if args.only else ["sqlite", "postgresql"]:
        with database(kind) as url, Service(url, PROBE_ALLOWANCE) as service:
            print(f"--- {kind}")
            asyncio.run(measure(service, args.clients, args.seconds, args.addresses))


if __name__ == "__main__":
    main()
