from mds.bootstrap import build_runtime
from mds.config import Settings
from tests.integration.ingest_helpers import ANA, signal


def test_services_built_per_batch_keep_what_the_store_said(
    fresh_database: str, test_settings: Settings
) -> None:
    settings = test_settings.model_copy(update={"database_url": fresh_database})
    runtime = build_runtime(settings)
    try:
        first, second = runtime.ingest_service(), runtime.ingest_service()
        assert first is not second  # one per batch, each with the current model
        assert first.crowded_keys is second.crowded_keys
        assert first.term_counts is second.term_counts
        [outcome] = runtime.api_group_commit().submit([signal("C-1", **ANA)])
        assert outcome.user_id is not None
        assert not runtime.ingest_service().crowded_keys.empty  # learnt by the API's batch
    finally:
        runtime.close()
