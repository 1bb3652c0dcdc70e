//! Reading query results: one collected SQL answer, and its columns as Rust values.

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type, TimeUnit, TimestampMicrosecondType};
use datafusion::prelude::SessionContext;

use crate::{Error, Result};

pub(crate) async fn collect(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
    tracing::debug!(sql, "report query");
    Ok(ctx.sql(sql).await?.collect().await?)
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef> {
    batch.column_by_name(name).ok_or_else(|| {
        Error::Engine(datafusion::error::DataFusionError::Internal(format!(
            "no column {name}"
        )))
    })
}

pub(crate) fn strings(batch: &RecordBatch, name: &str) -> Result<Vec<Option<String>>> {
    let utf8 = cast(column(batch, name)?, &DataType::Utf8)
        .map_err(datafusion::error::DataFusionError::from)?;
    let array = utf8.as_string::<i32>();
    Ok((0..array.len())
        .map(|i| array.is_valid(i).then(|| array.value(i).to_owned()))
        .collect())
}

pub(crate) fn ints(batch: &RecordBatch, name: &str) -> Result<Vec<i64>> {
    let ints = cast(column(batch, name)?, &DataType::Int64)
        .map_err(datafusion::error::DataFusionError::from)?;
    let array = ints.as_primitive::<Int64Type>();
    Ok((0..array.len())
        .map(|i| if array.is_valid(i) { array.value(i) } else { 0 })
        .collect())
}

pub(crate) fn times(batch: &RecordBatch, name: &str) -> Result<Vec<Option<DateTime<Utc>>>> {
    let ts = cast(
        column(batch, name)?,
        &DataType::Timestamp(TimeUnit::Microsecond, None),
    )
    .map_err(datafusion::error::DataFusionError::from)?;
    let array = ts.as_primitive::<TimestampMicrosecondType>();
    Ok((0..array.len())
        .map(|i| {
            array
                .is_valid(i)
                .then(|| DateTime::from_timestamp_micros(array.value(i)))
                .flatten()
        })
        .collect())
}

pub(crate) fn lists(batch: &RecordBatch, name: &str) -> Result<Vec<Vec<String>>> {
    let col = column(batch, name)?;
    let list = col.as_list::<i32>();
    let mut out = Vec::with_capacity(list.len());
    for i in 0..list.len() {
        if list.is_null(i) {
            out.push(Vec::new());
            continue;
        }
        let values = cast(&list.value(i), &DataType::Utf8)
            .map_err(datafusion::error::DataFusionError::from)?;
        let values = values.as_string::<i32>();
        out.push(
            (0..values.len())
                .filter(|&j| values.is_valid(j))
                .map(|j| values.value(j).to_owned())
                .collect(),
        );
    }
    Ok(out)
}
