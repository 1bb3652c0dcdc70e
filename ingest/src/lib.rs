//! EVTX files into the Parquet event store. Not built yet: see the ingest issue (#3).
