"""Herald's own addresses in the messages it sends: built here and nowhere else."""


def activity_link(base_url: str, project_id: int) -> str:
    """The project's Activity page: where a deleted case, or a digest of many changes, is told in full."""
    return f"{base_url.rstrip('/')}/projects/{project_id}/activity"


def case_link(base_url: str, project_id: int, case_id: int) -> str:
    return f"{base_url.rstrip('/')}/projects/{project_id}/cases/{case_id}"


def event_link(base_url: str, kind: str, project_id: int, case_id: int | None) -> str:
    """Where a message about this event points: the case, or the Activity page once the case is gone."""
    if kind == "case.deleted" or case_id is None:
        return activity_link(base_url, project_id)
    return case_link(base_url, project_id, case_id)
