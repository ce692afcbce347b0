"""The daily partitions start at the data (the last ingest's first price date) or the config's date."""

from assets.partitions import BEFORE_ANY_INGEST, first_partition, record_span
from ml.config import settings


def test_partitions_start_at_the_ingested_data(tmp_path):
    assert first_partition(tmp_path) == BEFORE_ANY_INGEST  # no ingest yet: any data's dates are partitions
    record_span(tmp_path, "2010-01-04", "2017-11-10")
    assert first_partition(tmp_path) == "2010-01-04"
    (tmp_path / "market_span.json").write_text("{not json")
    assert first_partition(tmp_path) == BEFORE_ANY_INGEST


def test_the_configured_first_partition_wins(tmp_path, monkeypatch):
    override = tmp_path / "override.toml"
    override.write_text('[ingest]\nfirst_partition = "2012-01-03"\n')
    monkeypatch.setenv("TRADEPIPE_CONFIG", str(override))
    settings.cache_clear()
    try:
        record_span(tmp_path, "2010-01-04", "2017-11-10")
        assert first_partition(tmp_path) == "2012-01-03"
    finally:
        monkeypatch.delenv("TRADEPIPE_CONFIG")
        settings.cache_clear()
