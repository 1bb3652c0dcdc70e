//! `lockstep export xlsx`: the change board's workbook (the `workbook` crate lays it out).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::engine::block_on;
use crate::output;
use crate::store_args::StoreArgs;

/// `lockstep export …`.
#[derive(Debug, Subcommand)]
pub(crate) enum ExportCommand {
    /// An Excel workbook: summary, one sheet per group, the candidates' rules, hosts.
    Xlsx(XlsxArgs),
}

#[derive(Debug, Args)]
pub(crate) struct XlsxArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// The workbook to write (replaced if it exists, only once it is complete).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

pub(crate) fn export(command: ExportCommand) -> anyhow::Result<ExitCode> {
    let ExportCommand::Xlsx(args) = command;
    let session = args.store.session(&[])?;
    let opts = workbook::WorkbookOptions {
        window: args.store.window()?,
        groups: args.store.groups.clone(),
        include_noise: args.store.include_noise,
    };
    let sheets = block_on(workbook::gather(&session, &opts))?;
    let bytes = workbook::write_xlsx(&sheets)?;
    // Written beside the target and renamed: a reader never sees half a workbook.
    let partial = args.out.with_extension("xlsx.partial");
    std::fs::write(&partial, &bytes)
        .with_context(|| format!("writing {}", output::path(&partial)))?;
    std::fs::rename(&partial, &args.out)
        .with_context(|| format!("writing {}", output::path(&args.out)))?;
    let groups = sheets.len().saturating_sub(3);
    eprintln!(
        "{}: {groups} group sheet(s), {} sheets in all",
        output::path(&args.out),
        sheets.len(),
    );
    Ok(ExitCode::SUCCESS)
}
