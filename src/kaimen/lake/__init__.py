"""The event lake: append-only Parquet files partitioned by month, clustered by person."""
