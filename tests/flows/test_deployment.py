"""prefect.yaml is what the ops team deploys: check it names a real flow and a real plan."""

from pathlib import Path

import yaml

import flows.quarterly_cycle

PROJECT = Path(__file__).resolve().parents[2]


def test_the_quarterly_deployment_is_scheduled_explicitly() -> None:
    config = yaml.safe_load((PROJECT / "prefect.yaml").read_text())
    (pull_step,) = config["pull"]
    assert "prefect.deployments.steps.set_working_directory" in pull_step
    deployment = next(d for d in config["deployments"] if d["name"] == "quarterly-cycle")
    assert deployment["work_pool"]["name"] == "btm-process"
    (schedule,) = deployment["schedules"]
    assert schedule["cron"] == "0 6 1 1,4,7,10 *" and schedule["timezone"]

    path, function = deployment["entrypoint"].split(":")
    assert (PROJECT / path).resolve() == Path(flows.quarterly_cycle.__file__).resolve()
    flow = getattr(flows.quarterly_cycle, function)
    assert flow.name == "quarterly-cycle"
