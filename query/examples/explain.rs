//! Runs one SQL file against a store and prints the result, for looking at query plans:
//!
//!     cargo run -p query --example explain -- DATA_DIR query.sql
//!
//! Start the file with `EXPLAIN ANALYZE` to see each operator's rows and time (check every
//! new query this way at 10 M rows; docs/architecture.md "Known traps").

use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::prelude::SessionContext;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(data), Some(sql_file)) = (args.next(), args.next()) else {
        return Err("usage: explain DATA_DIR SQL_FILE".into());
    };
    let ctx = SessionContext::new();
    query::register_store(&ctx, &query::Store::new(data)).await?;
    let sql = std::fs::read_to_string(sql_file)?;
    let started = std::time::Instant::now();
    let batches = ctx.sql(&sql).await?.collect().await?;
    println!("{}", pretty_format_batches(&batches)?);
    eprintln!("{:.3} s", started.elapsed().as_secs_f64());
    Ok(())
}
