//! Sheets as data (a header and rows of typed cells), and their writing as `.xlsx`: a bold
//! frozen header row, an autofilter over the table, column widths, and times as Excel dates.

use chrono::{DateTime, Utc};
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook, XlsxError};

/// One cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Number(f64),
    /// Written as an Excel date and time (UTC), `yyyy-mm-dd hh:mm`.
    Time(DateTime<Utc>),
    Empty,
}

impl From<&str> for Cell {
    fn from(text: &str) -> Cell {
        Cell::Text(text.to_owned())
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Cell {
        Cell::Text(text)
    }
}

impl From<u64> for Cell {
    fn from(n: u64) -> Cell {
        Cell::Number(n as f64)
    }
}

impl From<Option<DateTime<Utc>>> for Cell {
    fn from(t: Option<DateTime<Utc>>) -> Cell {
        t.map_or(Cell::Empty, Cell::Time)
    }
}

impl From<Option<String>> for Cell {
    fn from(t: Option<String>) -> Cell {
        t.map_or(Cell::Empty, Cell::Text)
    }
}

/// One sheet: its name, column titles and widths (in characters), and rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Sheet {
    pub name: String,
    pub columns: Vec<(&'static str, f64)>,
    pub rows: Vec<Vec<Cell>>,
}

/// Excel's longest sheet name.
const MAX_SHEET_NAME: usize = 31;

/// A sheet name Excel accepts: at most 31 characters, none of `[]:*?/\`.
pub fn sheet_name(name: &str) -> String {
    name.chars()
        .map(|c| if "[]:*?/\\".contains(c) { '_' } else { c })
        .take(MAX_SHEET_NAME)
        .collect()
}

/// The sheets as one `.xlsx` file.
pub fn write_xlsx(sheets: &[Sheet]) -> Result<Vec<u8>, XlsxError> {
    let mut workbook = Workbook::new();
    let header = Format::new().set_bold();
    let time = Format::new().set_num_format("yyyy-mm-dd hh:mm");
    for sheet in sheets {
        let ws = workbook.add_worksheet();
        ws.set_name(&sheet.name)?;
        for (col, (title, width)) in sheet.columns.iter().enumerate() {
            let col = col as u16;
            ws.write_string_with_format(0, col, *title, &header)?;
            ws.set_column_width(col, *width)?;
        }
        for (r, row) in sheet.rows.iter().enumerate() {
            let r = r as u32 + 1;
            for (col, cell) in row.iter().enumerate() {
                let col = col as u16;
                match cell {
                    Cell::Text(text) => {
                        ws.write_string(r, col, text)?;
                    }
                    Cell::Number(n) => {
                        ws.write_number(r, col, *n)?;
                    }
                    Cell::Time(t) => {
                        let at = ExcelDateTime::from_timestamp(t.timestamp())?;
                        ws.write_datetime_with_format(r, col, &at, &time)?;
                    }
                    Cell::Empty => {}
                }
            }
        }
        ws.set_freeze_panes(1, 0)?;
        let last_col = sheet.columns.len().saturating_sub(1) as u16;
        ws.autofilter(0, 0, sheet.rows.len() as u32, last_col)?;
    }
    workbook.save_to_buffer()
}
