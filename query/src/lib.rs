//! DataFusion queries over the event store. Not built yet: see the report issue (#4).
