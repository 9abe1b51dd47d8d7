"""The dbt graph runs one way: domains in the order the money flows (market_data -> analytics -> trading),
each with its own staging -> intermediate -> marts steps.

Read off dbt's manifest (`dbt parse`), every model may read only
- models of its own domain in the same or an earlier layer,
- marts and seeds (reference data) of an earlier domain,
- sources, and only from a staging model of the domain whose folder declares the source (market data
  from market_data, the parameter sweep's requests from trading),
and no model or macro names a relation by literal schema-qualified name or looks one up by name: the
self-reads incremental models need go through {{ this }}.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rapidtrader import PROJECT_ROOT
from rapidtrader.dbt_runner import run_dbt
from rapidtrader.jobs.backtest import window_env

DOMAINS = ["market_data", "analytics", "trading"]
# seeds are reference data (the calendar, the market ETFs): readable like market_data's marts, by any layer
LAYERS = ["seed", "staging", "intermediate", "marts"]
# schemas our models, seeds and sources live in: a literal "<schema>.<name>" in model SQL is a hidden edge
SCHEMAS = r"(?:staging|intermediate|marts|reference|dq|raw_\w+)"
LITERAL = re.compile(rf"(?<![\w.'\"]){SCHEMAS}\.[a-z_][a-z0-9_]*", re.IGNORECASE)
LOOKUP = re.compile(r"adapter\.get_relation|api\.Relation\.create")


@pytest.fixture(scope="module")
def manifest(tmp_path_factory, pg_server) -> dict:
    target = tmp_path_factory.mktemp("manifest")
    import os

    env_before = os.environ.get("DBT_TARGET_PATH")
    os.environ["DBT_TARGET_PATH"] = str(target)
    try:
        # with a backtest window and a sweep id, so the models enabled only for those are checked too
        variables = json.dumps({"rt_sweep_id": 1})
        result = run_dbt(["parse", "--vars", variables], pg_server, capture=True, env=window_env("2000-01-01", None))
    finally:
        if env_before is None:
            os.environ.pop("DBT_TARGET_PATH")
        else:
            os.environ["DBT_TARGET_PATH"] = env_before
    assert result.returncode == 0, result.stdout[-3000:]
    return json.loads((target / "manifest.json").read_text())


def place(node: dict) -> tuple[str, str]:
    """(domain, layer) of a model, seed or source."""
    if node["resource_type"] == "seed":
        return "market_data", "seed"
    if node["resource_type"] == "source":
        return Path(node["original_file_path"]).relative_to("dbt_project/models").parts[0], "source"
    parts = Path(node["original_file_path"]).relative_to("dbt_project/models").parts
    assert parts[0] in DOMAINS and parts[1] in LAYERS, f"{node['original_file_path']} is outside the domain layout"
    return parts[0], parts[1]


def violations(manifest: dict) -> list[str]:
    nodes = {**manifest["nodes"], **manifest["sources"]}
    found = []
    for node in manifest["nodes"].values():
        if node["resource_type"] != "model":
            continue
        domain, layer = place(node)
        for dep_id in node["depends_on"]["nodes"]:
            dep = nodes[dep_id]
            dep_domain, dep_layer = place(dep)
            what = f"{node['name']} ({domain}/{layer}) reads {dep['name']} ({dep_domain}/{dep_layer})"
            if dep_layer == "source":
                if (domain, layer) != (dep_domain, "staging"):
                    found.append(f"{what}: only its own domain's staging reads a source")
            elif DOMAINS.index(dep_domain) > DOMAINS.index(domain):
                found.append(f"{what}: a later domain")
            elif dep_domain != domain and dep_layer not in ("marts", "seed"):
                found.append(f"{what}: another domain's {dep_layer} model")
            elif dep_domain == domain and LAYERS.index(dep_layer) > LAYERS.index(layer):
                found.append(f"{what}: a later layer of its own domain")
    return found


def literal_names(code: str) -> list[str]:
    without_comments = re.sub(r"--[^\n]*|\{#.*?#\}|/\*.*?\*/", "", code, flags=re.S)
    return LITERAL.findall(without_comments) + LOOKUP.findall(without_comments)


def test_every_model_reads_forward_only(manifest):
    assert violations(manifest) == []


def test_no_model_or_macro_names_a_relation_literally(manifest):
    offenders = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] == "model" and literal_names(node["raw_code"]):
            offenders[node["original_file_path"]] = literal_names(node["raw_code"])
    for macro in manifest["macros"].values():
        if macro["package_name"] == "rapidtrader" and literal_names(macro["macro_sql"]):
            offenders[macro["original_file_path"]] = literal_names(macro["macro_sql"])
    assert offenders == {}


def test_every_model_has_a_yaml_entry_with_a_description(manifest):
    bare = [
        n["original_file_path"]
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and not n.get("description")
    ]
    assert bare == []


def test_the_checks_catch_what_they_guard(manifest):
    """The rules above fire on a graph that breaks them (guards the checks against passing vacuously)."""
    fake = json.loads(json.dumps(manifest))
    models = {n["name"]: n for n in fake["nodes"].values() if n["resource_type"] == "model"}
    models["bars_daily"]["depends_on"]["nodes"].append(models["ledger"]["unique_id"])
    models["signals_daily"]["depends_on"]["nodes"].append(models["int_bars_checked"]["unique_id"])
    found = violations(fake)
    assert any("bars_daily" in v and "later domain" in v for v in found)
    assert any("signals_daily" in v and "intermediate" in v for v in found)
    assert literal_names("select * from marts.indicators_daily") == ["marts.indicators_daily"]
    assert literal_names("{{ adapter.get_relation(database=x) }}") == ["adapter.get_relation"]
    assert literal_names("select * from {{ this }} -- not marts.foo") == []


def test_each_domain_folder_says_what_it_owns_and_reads():
    for domain in DOMAINS:
        text = (PROJECT_ROOT / "dbt_project" / "models" / domain / "README.md").read_text()
        assert "Owns" in text and "Reads" in text and "Read by" in text, domain
