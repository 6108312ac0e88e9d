"""Stop a SLURM run whose job status checks cannot work, before its first job is submitted.

snakemake-executor-plugin-slurm learns that a job has finished by querying ``sacct`` or ``squeue``
(``slurm-status-command``). A failing query is logged at debug level only and the job counts as
still running, so with ``sacct`` on a cluster without an accounting database Snakemake waits
forever without a word. The workflow's ``onstart`` handler (``workflow/rules/common.smk``) calls
``status_check_warnings`` with the executor's settings: where the checks will use ``sacct``, it
runs the plugin's own ``sacct`` query once, and a failure is a ``StatusCheckError`` naming the
setting to change.

Which command the checks use follows the plugin (2.8.0, ``check_active_jobs``): the configured one,
except that ``squeue`` becomes ``sacct`` where ``sacct`` is installed and ``MinJobAge`` (how long
``squeue`` still lists a finished job) is unknown or under 3 x ``slurm-init-seconds-before-status-checks``.
The checks are at most ``MAX_CHECK_INTERVAL_S`` apart, so ``squeue`` can miss a job that finished
where ``MinJobAge`` is shorter than that: a warning, since it depends on timing.
"""

from __future__ import annotations

import shlex
import subprocess
from typing import Any

from srloss.errors import UserError

PROFILE = "profiles/slurm/config.yaml"
MAX_CHECK_INTERVAL_S = 180  # the plugin's cap on the time between two status checks
PROBE_TIMEOUT_S = 30  # the plugin gives up on one query after 60 s
PROBE_NAME = "srloss-status-probe"  # a job name no job has: the query answers with no rows


class StatusCheckError(UserError):
    """The plugin's job status checks would fail on this cluster."""


def planned_command(configured: str | None, init_s: int, min_job_age: int | None, sacct_installed: bool) -> str:
    """The command the plugin's status checks will run (``sacct`` or ``squeue``)."""
    command = configured or "squeue"
    if command == "squeue" and sacct_installed and (min_job_age is None or min_job_age < 3 * init_s):
        command = "sacct"
    if command == "sacct" and not sacct_installed:
        command = "squeue"
    return command


def sacct_failure(timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """Why the plugin's ``sacct`` query fails here (its first line of output), or None if it works."""
    from snakemake_executor_plugin_slurm.job_status_query import query_job_status_sacct

    command = query_job_status_sacct(PROBE_NAME)
    try:
        done = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"no answer within {timeout:g} s"
    except OSError as e:
        return str(e)
    if done.returncode == 0:
        return None
    said = (done.stderr.strip() or done.stdout.strip()).splitlines()
    return f"exit status {done.returncode}: {said[0]}" if said else f"exit status {done.returncode}"


def status_check_warnings(settings: Any) -> list[str]:
    """Check that the status checks the executor ``settings`` plan can work: a ``StatusCheckError``
    naming the setting to change where they cannot, warnings where they may miss a job."""
    from snakemake_executor_plugin_slurm.job_status_query import get_min_job_age, is_query_tool_available

    configured = getattr(settings, "status_command", None)
    init_s = getattr(settings, "init_seconds_before_status_checks", None) or 40
    min_job_age = get_min_job_age()
    command = planned_command(configured, init_s, min_job_age, is_query_tool_available("sacct"))
    if command == "sacct":
        failure = sacct_failure()
        if failure is None:
            return []
        if configured == "sacct":
            raise StatusCheckError(
                f"SLURM status checks: `sacct` fails on this cluster ({failure}), so Snakemake would never see "
                f"a job finish; set `slurm-status-command: squeue` in {PROFILE} (or pass --slurm-status-command squeue)"
            )
        if min_job_age is None:
            raise StatusCheckError(
                "SLURM status checks: `scontrol show config` did not say MinJobAge, so the checks use `sacct` "
                f"instead of `squeue`, and `sacct` fails on this cluster ({failure}); make `scontrol show config` "
                "work on this host (it needs the SLURM controller)"
            )
        raise StatusCheckError(
            f"SLURM status checks: MinJobAge is {min_job_age} s, under 3 x slurm-init-seconds-before-status-checks "
            f"(3 x {init_s} s), so the checks use `sacct` instead of `squeue`, and `sacct` fails on this cluster "
            f"({failure}); set `slurm-init-seconds-before-status-checks` to at most {max(1, min_job_age // 3)} "
            f"in {PROFILE}, or have MinJobAge raised in slurm.conf"
        )
    if min_job_age is not None and min_job_age < MAX_CHECK_INTERVAL_S:
        return [
            f"SLURM status checks: squeue lists a finished job for MinJobAge = {min_job_age} s, but the checks can "
            f"be {MAX_CHECK_INTERVAL_S} s apart: a job that finishes unseen keeps Snakemake waiting; have MinJobAge "
            f"raised to 300 s or more in slurm.conf, or set `slurm-status-command: sacct` in {PROFILE} where "
            "accounting works"
        ]
    return []
