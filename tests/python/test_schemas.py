"""The documented JSON interfaces hold: `msmu inspect --json` output and the shipped selection
rules validate against their schemas in schemas/ (JSON Schema draft 2020-12)."""

import json

import jsonschema
import pytest

from conftest import REPO, fixture_scenes, run_msmu


def load(path):
    return json.loads((REPO / path).read_text())


@pytest.mark.parametrize("scene", fixture_scenes(), ids=lambda p: p.name)
def test_inspect_json_matches_schema(scene):
    schema = load("schemas/inspect.schema.json")
    report = json.loads(run_msmu("inspect", str(scene), "--json", "--views"))
    jsonschema.Draft202012Validator(schema).validate(report)
    assert report["views"]["stats"]["frames_total"] == report["frames"]["valid"]


def test_selection_rules_match_schema():
    jsonschema.Draft202012Validator(load("schemas/selection.schema.json")).validate(load("templates/selection.json"))


def test_schema_rejects_a_broken_report():
    schema = load("schemas/inspect.schema.json")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate({"scene_id": "x"})


@pytest.mark.parametrize("path", sorted((REPO / "templates" / "qa").glob("*.json")), ids=lambda p: p.name)
def test_qa_templates_match_schema(path):
    jsonschema.Draft202012Validator(load("schemas/qa_templates.schema.json")).validate(json.loads(path.read_text()))
