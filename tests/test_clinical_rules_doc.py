"""docs/clinical-rules.md is the rule data, written out: it must not drift from app/rules/."""

from pathlib import Path

from app.rules.document import clinical_rules_markdown
from app.rules.ruleset import RULE_SETS

DOC = Path(__file__).resolve().parent.parent / "docs" / "clinical-rules.md"


def test_committed_document_matches_the_rule_data() -> None:
    assert DOC.read_text(encoding="utf-8") == clinical_rules_markdown(), (
        "docs/clinical-rules.md is stale: run `aftercare rules doc` and commit it"
    )


def test_document_names_every_rule_of_every_version() -> None:
    text = clinical_rules_markdown()
    for rules in RULE_SETS.values():
        assert f"## Version {rules.version}" in text
        for rule in rules.rules:
            assert f"| `{rule.id}`" in text and rule.description in text
