"""The alerting rules and dashboard under deploy/: valid for Prometheus, and every metric they
name is one PayLink exports; the broker gauges they need report what the broker holds.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "paylink-rules.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "paylink-rules.test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "paylink-dashboard.json"
METRIC = re.compile(r"\bpaylink_[a-z_]+")
SUFFIXES = ("_bucket", "_count", "_sum", "_total", "_created")


def family(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def named_by_rules() -> set[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {family(m) for g in groups for rule in g["rules"] for m in METRIC.findall(rule["expr"])}


def named_by_dashboard() -> set[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return {family(m) for p in panels for t in p["targets"] for m in METRIC.findall(t["expr"])}


def exported(app) -> set[str]:
    metrics = app.extensions["metrics"]
    metrics.gauges.sample()
    return {f.name for f in metrics.registry.collect()}


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian: prometheus) absent")
def test_promtool_accepts_the_rules_and_their_unit_tests_pass():
    for args in (["check", "rules", str(RULES)], ["test", "rules", str(RULE_TESTS)]):
        done = subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr


def test_every_metric_the_rules_and_dashboard_name_is_exported(app):
    named = named_by_rules() | named_by_dashboard()
    assert {"paylink_celery_queue_depth", "paylink_celery_workers"} <= named
    assert {"paylink_vtpass_float_naira", "paylink_vtpass_float_low"} <= named
    missing = named - exported(app)
    assert not missing, f"named but not exported: {sorted(missing)}"


def test_queue_depth_counts_what_waits_and_no_worker_means_zero_workers(app, settings):
    from celery import Celery

    from workers.celery_app import celery_config

    sender = Celery("depth-test")
    sender.config_from_object(celery_config(settings))
    with sender.connection_for_write() as conn:
        conn.default_channel.queue_purge("requeries")
    for _ in range(3):
        sender.send_task("purchases.requery", args=("pur_missing",), retry=True)
    samples = {}
    from api.metrics import broker_gauges

    for metric in broker_gauges(app.extensions["paylink"]):
        for s in metric.samples:
            samples[(s.name, s.labels["queue"])] = s.value
    with sender.connection_for_write() as conn:
        conn.default_channel.queue_purge("requeries")
    assert samples[("paylink_celery_queue_depth", "requeries")] == 3
    assert samples[("paylink_celery_workers", "requeries")] == 0
