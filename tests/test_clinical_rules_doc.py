"""docs/clinical-rules.md is the rule data, written out: it must not drift from app/rules/."""

from pathlib import Path

import pytest

from app.rules.document import clinical_rules_markdown

pytestmark = pytest.mark.unit

DOC = Path(__file__).resolve().parent.parent / "docs" / "clinical-rules.md"


def test_committed_document_matches_the_rule_data() -> None:
    assert DOC.read_text(encoding="utf-8") == clinical_rules_markdown(), (
        "docs/clinical-rules.md is stale: run `aftercare rules doc` and commit it"
    )
