from mds.services.resolution.crowded_keys import CrowdedKeys

COMMON, RARE = ("full_name", b"jms|sm0"), ("email", b"ana@example.com")


def test_learnt_keys_are_known_until_their_time_runs_out() -> None:
    clock = [0.0]
    crowded = CrowdedKeys(ttl_seconds=60, clock=lambda: clock[0])
    assert COMMON not in crowded
    crowded.learn([COMMON])
    clock[0] = 59.0
    assert COMMON in crowded and RARE not in crowded
    clock[0] = 60.0  # an erasure may have thinned the key out since: learn it again
    assert COMMON not in crowded
    crowded.learn([RARE])
    assert RARE in crowded and COMMON not in crowded
