"""prefect.yaml is what the ops team deploys: check it names real flows and a real plan."""

import importlib
import inspect
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect import Flow
from prefect.client.schemas.schedules import CronSchedule

PROJECT = Path(__file__).resolve().parents[2]
TEXT = (PROJECT / "prefect.yaml").read_text()
CONFIG = yaml.safe_load(TEXT)
DEPLOYMENTS = {d["name"]: d for d in CONFIG["deployments"]}
NAMES = [  # deployment = flow name
    "quarterly-cycle",
    "evidence-refresh",
    "initiative-pulse",
    "survey-reminders",
]


def _flow(entrypoint: str) -> Flow[..., Any]:
    path, function = entrypoint.split(":")
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    assert Path(str(module.__file__)).resolve() == (PROJECT / path).resolve()
    flow = getattr(module, function)
    assert isinstance(flow, Flow)
    return flow


def _text_of(name: str) -> str:
    """The lines of prefect.yaml from this deployment's `- name:` to the next one."""
    blocks = re.split(r"^  - name: ", TEXT, flags=re.MULTILINE)[1:]
    (block,) = [b for b in blocks if b.split()[0] == name]
    return block


def test_the_four_flows_are_deployed_from_the_project_checkout() -> None:
    assert sorted(DEPLOYMENTS) == sorted(NAMES)
    (pull_step,) = CONFIG["pull"]
    assert "prefect.deployments.steps.set_working_directory" in pull_step


@pytest.mark.parametrize("name", NAMES)
def test_a_deployment_runs_its_flow_on_the_process_pool(name: str) -> None:
    deployment = DEPLOYMENTS[name]
    assert _flow(deployment["entrypoint"]).name == name
    assert deployment["work_pool"]["name"] == "btm-process"
    assert deployment["description"].strip() and "btm" in deployment["tags"]


@pytest.mark.parametrize("name", NAMES)
def test_a_deployment_is_scheduled_explicitly(name: str) -> None:
    (schedule,) = DEPLOYMENTS[name]["schedules"]
    assert schedule["timezone"], "without a timezone Prefect stores none"
    # Prefect's own schedule model rejects an invalid cron line or timezone name.
    CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"])


def test_the_quarterly_cycle_runs_on_the_first_day_of_each_quarter() -> None:
    (schedule,) = DEPLOYMENTS["quarterly-cycle"]["schedules"]
    assert schedule["cron"] == "0 6 1 1,4,7,10 *"


@pytest.mark.parametrize("name", NAMES)
def test_every_parameter_of_a_flow_is_documented_at_its_deployment(name: str) -> None:
    deployment = DEPLOYMENTS[name]
    # Scheduled runs take every default; the comment says what each one is.
    assert deployment["parameters"] == {}
    flow = _flow(deployment["entrypoint"])
    text = _text_of(name)
    undocumented = [
        parameter
        for parameter in inspect.signature(flow.fn).parameters
        if not re.search(rf"\b{parameter}\b", text)
    ]
    assert not undocumented, f"document {undocumented} at deployment {name} in prefect.yaml"
