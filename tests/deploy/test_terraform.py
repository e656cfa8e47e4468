"""Terraform: formatted, parseable, standard layout, and the policies operators rely on.

`terraform validate` needs the AWS provider, which CI cannot download (no registry access), so
the policies are checked on the parsed HCL (python-hcl2) in Python instead.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any

import hcl2
import pytest
from deploytools import ROOT, run, tool

TF = ROOT / "terraform"
MODULES = ["storage", "secrets", "database", "service"]
ENVIRONMENTS = ["local", "aws"]
LAYOUT = {"main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"}
META_ARGS = {"source", "version", "providers", "depends_on", "count", "for_each"}
SEVEN_YEARS_DAYS = 7 * 365


def _unquote(value: Any) -> Any:
    """python-hcl2 8.x keeps quotes and adds bookkeeping keys; strip both."""
    if isinstance(value, dict):
        return {_unquote(k): _unquote(v) for k, v in value.items() if k not in ("__is_block__", "__comments__")}
    if isinstance(value, list):
        return [_unquote(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


@functools.cache
def _folder(path: Path) -> dict[str, dict[Any, Any]]:
    """All blocks of one Terraform folder, keyed by kind."""
    blocks: dict[str, dict[Any, Any]] = {
        "resource": {},
        "data": {},
        "variable": {},
        "output": {},
        "module": {},
        "provider": {},
    }
    for tf in sorted(path.glob("*.tf")):
        with tf.open() as f:
            doc = _unquote(hcl2.load(f))
        for kind in ("resource", "data"):
            for block in doc.get(kind, []):
                for rtype, items in block.items():
                    for name, body in items.items():
                        blocks[kind][(rtype, name)] = body
        for kind in ("variable", "output", "module", "provider"):
            for block in doc.get(kind, []):
                blocks[kind].update(block)
    return blocks


def _module(name: str) -> dict[str, dict[Any, Any]]:
    return _folder(TF / "modules" / name)


def _value(module: str, expr: Any) -> Any:
    """A literal, or the default of the variable a plain ``${var.x}`` names."""
    if isinstance(expr, str) and (m := re.fullmatch(r"\$\{var\.(\w+)\}", expr)):
        return _module(module)["variable"][m.group(1)]["default"]
    return expr


def _resources(module: str, rtype: str) -> dict[str, Any]:
    return {name: body for (t, name), body in _module(module)["resource"].items() if t == rtype}


def test_terraform_fmt_finds_nothing_to_change():
    terraform = tool("terraform", "install it: https://developer.hashicorp.com/terraform/install")
    env = {k: v for k, v in os.environ.items() if k != "TF_CLI_CONFIG_FILE"} | {"CHECKPOINT_DISABLE": "1"}
    result = run([terraform, "fmt", "-check", "-recursive", "-diff", "-no-color", str(TF)], env=env)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("folder", [f"modules/{m}" for m in MODULES] + [f"environments/{e}" for e in ENVIRONMENTS])
def test_every_folder_has_the_standard_layout(folder: str):
    assert {p.name for p in (TF / folder).iterdir()} >= LAYOUT


@pytest.mark.parametrize("path", sorted(TF.rglob("*.tf")), ids=lambda p: str(p.relative_to(TF)))
def test_every_file_parses(path: Path):
    with path.open() as f:
        assert isinstance(hcl2.load(f), dict)


def test_every_variable_and_output_is_described():
    for folder in [TF / "modules" / m for m in MODULES] + [TF / "environments" / e for e in ENVIRONMENTS]:
        blocks = _folder(folder)
        for kind in ("variable", "output"):
            undescribed = [name for name, body in blocks[kind].items() if not body.get("description")]
            assert undescribed == [], f"{folder.name}: {kind}s without a description"


def test_the_bucket_is_versioned_encrypted_private_and_tls_only():
    (versioning,) = _resources("storage", "aws_s3_bucket_versioning").values()
    assert versioning["versioning_configuration"][0]["status"] == "Enabled"
    (sse,) = _resources("storage", "aws_s3_bucket_server_side_encryption_configuration").values()
    algorithm = sse["rule"][0]["apply_server_side_encryption_by_default"][0]["sse_algorithm"]
    assert "AES256" in algorithm and "aws:kms" in algorithm  # SSE-S3, or SSE-KMS with a key
    (block,) = _resources("storage", "aws_s3_bucket_public_access_block").values()
    assert all(
        block[k] is True
        for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
    )
    policy = _module("storage")["data"][("aws_iam_policy_document", "tls_only")]["statement"][0]
    assert policy["effect"] == "Deny" and policy["condition"][0]["variable"] == "aws:SecureTransport"


def test_blobs_are_archived_after_90_days_and_deleted_after_7_years():
    (lifecycle,) = _resources("storage", "aws_s3_bucket_lifecycle_configuration").values()
    (rule,) = lifecycle["rule"]
    assert rule["status"] == "Enabled"
    assert _value("storage", rule["transition"][0]["days"]) == 90
    assert _value("storage", rule["transition"][0]["storage_class"]).startswith("GLACIER")
    assert _value("storage", rule["expiration"][0]["days"]) >= SEVEN_YEARS_DAYS
    assert _value("storage", rule["noncurrent_version_expiration"][0]["noncurrent_days"]) >= SEVEN_YEARS_DAYS


def test_there_is_no_message_queue():
    # The PostgreSQL table is the job queue (FOR UPDATE SKIP LOCKED, LISTEN/NOTIFY): no SQS.
    assert not (TF / "modules/queue").exists()
    assert "aws_sqs" not in "\n".join(p.read_text() for p in TF.rglob("*.tf"))


def test_the_database_is_encrypted_private_and_backed_up():
    (db,) = _resources("database", "aws_db_instance").values()
    assert db["engine"] == "postgres"
    assert db["storage_encrypted"] is True
    assert db["publicly_accessible"] is False
    assert db["manage_master_user_password"] is True and "password" not in db
    assert db["skip_final_snapshot"] is False
    assert _value("database", db["deletion_protection"]) is True
    assert _value("database", db["backup_retention_period"]) >= 7
    (params,) = _resources("database", "aws_db_parameter_group").values()
    assert {"name": "rds.force_ssl", "value": "1"} in params["parameter"]


def test_fargate_tasks_run_privately_with_every_process():
    services = _resources("service", "aws_ecs_service")["this"]
    assert services["launch_type"] == "FARGATE"
    assert services["network_configuration"][0]["assign_public_ip"] is False
    tasks = _resources("service", "aws_ecs_task_definition")["this"]
    assert tasks["requires_compatibilities"] == ["FARGATE"]
    main = (TF / "modules/service/main.tf").read_text()
    for command in ('["python", "-m", "webhook"]', '["python", "-m", "sync"]', '["streamlit", "run", "app/server.py"'):
        assert command in main


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_environments_give_modules_exactly_the_inputs_they_declare(environment: str):
    env_dir = TF / "environments" / environment
    for call_name, call in _folder(env_dir)["module"].items():
        source = (env_dir / call["source"]).resolve()
        assert source.parent == (TF / "modules").resolve(), call_name
        declared = _folder(source)["variable"]
        given = set(call) - META_ARGS
        required = {name for name, body in declared.items() if "default" not in body}
        assert given <= set(declared), f"{call_name}: unknown inputs {given - set(declared)}"
        assert required <= given, f"{call_name}: missing inputs {required - given}"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_environments_only_use_outputs_modules_have(environment: str):
    env_dir = TF / "environments" / environment
    calls = _folder(env_dir)["module"]
    text = "\n".join(p.read_text() for p in env_dir.glob("*.tf"))
    for call_name, output in set(re.findall(r"module\.(\w+)\.(\w+)", text)):
        outputs = _folder((env_dir / calls[call_name]["source"]).resolve())["output"]
        assert output in outputs, f"module.{call_name}.{output}"


def test_the_local_environment_talks_only_to_localstack():
    local = _folder(TF / "environments/local")
    provider = local["provider"]["aws"]
    assert provider["access_key"] == "test" and provider["skip_credentials_validation"] is True
    assert set(provider["endpoints"][0].values()) == {"${var.localstack_endpoint}"}
    assert local["variable"]["localstack_endpoint"]["default"] == "http://localhost:4566"
    assert set(local["module"]) == {"storage", "secrets"}


def test_the_aws_environment_deploys_every_module():
    assert set(_folder(TF / "environments/aws")["module"]) == set(MODULES)
