//! `lockstep identities import|show`: names for SIDs and group memberships from Active
//! Directory exports (`policy::identities` reads them), kept in the workspace. Simulate and
//! readiness then apply rules on group SIDs by those memberships, and answers name users.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use workspace::Workspace;

use crate::output;

/// `lockstep identities …`.
#[derive(Debug, Subcommand)]
pub(crate) enum IdentitiesCommand {
    /// Read an AD export (CSV from Export-Csv, or LDIF from ldapsearch) into the workspace.
    Import(ImportArgs),
    /// The identities kept, with their groups.
    Show(ShowArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The export: CSV with SID and SamAccountName columns, or LDIF.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// The data folder (the event store and the workspace).
    #[arg(long, env = "LOCKSTEP_DATA", default_value = "lockstep-data")]
    data: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// The data folder (the event store and the workspace).
    #[arg(long, env = "LOCKSTEP_DATA", default_value = "lockstep-data")]
    data: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Json,
}

pub(crate) fn identities(command: IdentitiesCommand) -> anyhow::Result<ExitCode> {
    match command {
        IdentitiesCommand::Import(args) => import(args),
        IdentitiesCommand::Show(args) => show(args),
    }
}

fn import(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let label = output::path(&args.file);
    let bytes = std::fs::read(&args.file).with_context(|| format!("reading {label}"))?;
    let text = decode(&bytes).with_context(|| format!("reading {label}"))?;
    // Everything is read before anything is kept: a bad line keeps nothing.
    let imported = policy::identities::parse(&text).map_err(|e| anyhow::anyhow!("{label}: {e}"))?;
    for warning in &imported.warnings {
        eprintln!("{label}: {warning}");
    }
    let identities: Vec<_> = imported.directory.identities().cloned().collect();
    let groups = identities.iter().filter(|i| i.is_group).count();
    let ws = Workspace::open(&args.data)?;
    let total = ws.import_identities(&identities, &label, &workspace::os_user())?;
    output::print(&format!(
        "imported {} identities ({} users, {groups} groups) from {label}; the workspace names {total} SIDs\n",
        identities.len(),
        identities.len() - groups,
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// UTF-8, or the UTF-16 that Windows PowerShell 5's `Export-Csv` and `Out-File` write.
fn decode(bytes: &[u8]) -> anyhow::Result<String> {
    let utf16 = |big: bool| {
        let units: Vec<u16> = bytes[2..]
            .chunks_exact(2)
            .map(|c| {
                if big {
                    u16::from_be_bytes([c[0], c[1]])
                } else {
                    u16::from_le_bytes([c[0], c[1]])
                }
            })
            .collect();
        String::from_utf16(&units).context("not valid UTF-16")
    };
    match bytes {
        [0xFF, 0xFE, ..] => utf16(false),
        [0xFE, 0xFF, ..] => utf16(true),
        _ => String::from_utf8(bytes.to_vec()).context("not UTF-8 or UTF-16 text"),
    }
}

fn show(args: ShowArgs) -> anyhow::Result<ExitCode> {
    let ws = Workspace::open(&args.data)?;
    let directory = ws.directory()?;
    let identities: Vec<_> = directory.identities().collect();
    let text = match args.format {
        Format::Json => serde_json::to_string_pretty(&identities)? + "\n",
        Format::Table => {
            let mut out = format!("{} identities\n", identities.len());
            for i in &identities {
                let groups: Vec<String> = i
                    .groups
                    .iter()
                    .map(|g| directory.name(g).unwrap_or(g).to_owned())
                    .collect();
                let _ = writeln!(
                    out,
                    "{:<48} {:<6} {}{}",
                    i.sid,
                    if i.is_group { "group" } else { "user" },
                    output::escape_controls(&i.name),
                    if groups.is_empty() {
                        String::new()
                    } else {
                        format!("  in {}", groups.join(", "))
                    }
                );
            }
            out
        }
    };
    output::print(&text)?;
    Ok(ExitCode::SUCCESS)
}
