import pytest

from mds.observability import entry_point


@pytest.mark.parametrize(
    ("actor", "entry"),
    [
        ("api", "api"),
        ("kafka", "kafka"),
        ("import:/data/crm-2026-11.csv", "import"),
        ("import:-", "import"),
        ("steward:ana", "other"),
        ("ingest", "other"),
    ],
)
def test_entry_point_is_a_bounded_label_whatever_the_actor_names(actor: str, entry: str) -> None:
    assert entry_point(actor) == entry
