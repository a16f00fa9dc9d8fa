import uuid

from mds.cli.recompute_workers import resume_point
from mds.services.recompute import RecomputeProgress

IDS = sorted(uuid.uuid4() for _ in range(6))


def _at(last_user: uuid.UUID | None) -> RecomputeProgress:
    return RecomputeProgress(users=1 if last_user else 0, last_user=last_user)


def test_an_interrupted_parallel_pass_resumes_where_no_running_range_is_left_behind() -> None:
    bounds = [None, IDS[2], IDS[4], None]  # three ranges: (-, 2], (2, 4], (4, -)
    # Range 0 got to id 1, range 1 to id 3, range 2 to id 5: each resumes after its own.
    walked = [_at(IDS[1]), _at(IDS[3]), _at(IDS[5])]
    assert resume_point(walked, bounds, running={0, 1, 2}) == IDS[1]
    # Range 0 finished: the earliest of the others.
    assert resume_point(walked, bounds, running={1, 2}) == IDS[3]
    # Range 1 has walked nothing yet: it would start after its lower bound.
    assert resume_point([_at(IDS[1]), _at(None), _at(IDS[5])], bounds, {1, 2}) == IDS[2]
    # The first range has walked nothing: start from the first user.
    assert resume_point([_at(None), _at(IDS[3]), _at(IDS[5])], bounds, {0, 1, 2}) is None
    # Every range done: the pass's end.
    assert resume_point(walked, [IDS[0], IDS[2], IDS[4], IDS[5]], running=set()) == IDS[5]
