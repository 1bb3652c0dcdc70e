use datafusion::prelude::*;
#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let ctx = SessionContext::new();
    let store = query::Store::new(std::path::PathBuf::from(&args[1]));
    query::register_store(&ctx, &store).await.unwrap();
    let sql = std::fs::read_to_string(&args[2]).unwrap();
    let t = std::time::Instant::now();
    let df = ctx.sql(&sql).await.unwrap();
    let batches = df.collect().await.unwrap();
    println!("{}", datafusion::arrow::util::pretty::pretty_format_batches(&batches).unwrap());
    eprintln!("{:?}", t.elapsed());
}
