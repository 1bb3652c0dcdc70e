//! `lockstep`: AppLocker audit events to enforce-ready policies, per business group.
//!
//! Each subcommand parses its raw arguments here and calls one library function.

use std::process::ExitCode;

use clap::{ArgAction, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// glibc's allocator made multi-threaded ingest spend a third of its time in malloc/free.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod alerts_cmds;
mod collect_cmd;
mod engine;
mod export_cmds;
mod generate;
mod identities_cmds;
mod ingest;
mod output;
mod policy_cmds;
mod report;
mod rollout_cmds;
mod serve;
mod store_args;
mod store_cmds;
mod versions_cmds;
mod workspace_cmds;

#[derive(Debug, Parser)]
#[command(name = "lockstep", version, about, after_help = EXAMPLES)]
struct Args {
    /// More log output on stderr (-v debug, -vv trace). `RUST_LOG` overrides.
    #[arg(short, long, action = ArgAction::Count, global = true)]
    verbose: u8,
    /// No progress bars, and only warnings and errors on stderr.
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

const EXAMPLES: &str = "Examples:
  lockstep report sample-logs/
  lockstep report --inventory inventory.csv --since 2026-10-01 --group finance --format json
  lockstep suggest --inventory inventory.csv --out policies/
  lockstep suggest --inventory inventory.csv --group finance --policy current.xml > finance.xml
  lockstep simulate --inventory inventory.csv --policy candidate.xml --group finance
  lockstep readiness --inventory inventory.csv --current current.xml --min-days 21
  lockstep policy import --fleet 'GPO backups/{6AC1786C-016F-11D2-945F-00C04FB984F9}'
  lockstep decide finance 203547b4aeb4ce0a allow --note 'trading desk needs it'
  lockstep policy candidate --group finance --enforce EXE > finance-candidate.xml
  lockstep ingest sample-logs/
  lockstep serve sample-logs/
  LOCKSTEP_TOKEN=$(cat read.token) lockstep serve --listen 0.0.0.0:8080 --admin-token-file admin.token
  lockstep ingest --data /srv/lockstep 'D:\\exports\\*.evtx' --json
  lockstep generate --out fleet --hosts 200 --groups 6 --days 30 --events 1000000
  lockstep generate --out wef --forwarded 2 --wef-coverage 75";

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a simulated fleet's AppLocker logs as real EVTX files, with its inventory.csv.
    Generate(generate::GenerateArgs),
    /// Read EVTX files into the event store (idempotent; exit status 3 when some input was skipped).
    Ingest(ingest::IngestArgs),
    /// Which apps would be blocked, per business group (`report sample-logs/` ingests first).
    Report(report::ReportArgs),
    /// Rules that would let each group's would-be-blocked apps run (AppLocker XML or JSON).
    Suggest(policy_cmds::SuggestArgs),
    /// Re-evaluate every recorded execution under a candidate policy: what still / newly blocks.
    Simulate(policy_cmds::SimulateArgs),
    /// Per group and collection: ready to enforce, not ready, or insufficient data.
    Readiness(policy_cmds::ReadinessArgs),
    /// The dashboard and the HTTP API (`serve sample-logs/` ingests first and prints a link)
    Serve(serve::ServeArgs),
    /// Each group's policy in force (import, show), candidate and published versions.
    #[command(subcommand)]
    Policy(workspace_cmds::PolicyCommand),
    /// Decide about an app of a group: allow (with the suggested rule), block on purpose, or defer.
    #[command(
        override_usage = "lockstep decide [OPTIONS] GROUP APP_ID DECISION\n       \
                                lockstep decide --fleet [OPTIONS] APP_ID DECISION"
    )]
    Decide(workspace_cmds::DecideArgs),
    /// The decisions taken (current, or --history), with who, when and why.
    Decisions(workspace_cmds::DecisionsArgs),
    /// The workspace file itself (backup).
    #[command(subcommand)]
    Workspace(workspace_cmds::WorkspaceCommand),
    /// The event store itself (compaction).
    #[command(subcommand)]
    Store(store_cmds::StoreCommand),
    /// Keep folders ingested as exports arrive and grow (a WEF share, a SIEM drop folder).
    Collect(collect_cmd::CollectArgs),
    /// The rollout record: when a group's collections went to Enforce (which version) or back to audit.
    #[command(subcommand)]
    Rollout(rollout_cmds::RolloutCommand),
    /// After the flip: blocks per day (expected, unexpected), the exception queue, disagreements.
    Monitor(rollout_cmds::MonitorArgs),
    /// Where alerts on unexpected blocks go (kept in the workspace), and the alerts kept.
    #[command(subcommand)]
    Alerts(alerts_cmds::AlertsCommand),
    /// Names for SIDs and group memberships from an Active Directory export (kept in the workspace).
    #[command(subcommand)]
    Identities(identities_cmds::IdentitiesCommand),
    /// Answers as files for others: the change board's Excel workbook.
    #[command(subcommand)]
    Export(export_cmds::ExportCommand),
}

fn main() -> ExitCode {
    let args = Args::parse();
    let json_logs =
        matches!(&args.command, Command::Serve(s) if s.log_format == serve::LogFormat::Json);
    init_tracing(args.verbose, args.quiet, json_logs);
    let result = match args.command {
        Command::Generate(cmd) => generate::run(cmd, args.quiet),
        Command::Ingest(cmd) => ingest::run(cmd, args.quiet),
        Command::Report(cmd) => report::run(cmd, args.quiet),
        Command::Suggest(cmd) => policy_cmds::suggest(cmd),
        Command::Simulate(cmd) => policy_cmds::simulate(cmd),
        Command::Readiness(cmd) => policy_cmds::readiness(cmd),
        Command::Serve(cmd) => serve::run(cmd, args.quiet),
        Command::Policy(cmd) => workspace_cmds::policy(cmd),
        Command::Decide(cmd) => workspace_cmds::decide(cmd),
        Command::Decisions(cmd) => workspace_cmds::decisions(cmd),
        Command::Workspace(cmd) => workspace_cmds::workspace(cmd),
        Command::Store(cmd) => store_cmds::store(cmd),
        Command::Collect(cmd) => collect_cmd::run(cmd),
        Command::Rollout(cmd) => rollout_cmds::rollout(cmd),
        Command::Monitor(cmd) => rollout_cmds::monitor(cmd),
        Command::Alerts(cmd) => alerts_cmds::alerts(cmd),
        Command::Identities(cmd) => identities_cmds::identities(cmd),
        Command::Export(cmd) => export_cmds::export(cmd),
    };
    match result {
        Ok(code) => code,
        // `lockstep report | head`: the reader has all it wanted.
        Err(err) if output::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", output::escape_controls(&format!("{err:#}")));
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(verbose: u8, quiet: bool, json: bool) {
    let default = match (verbose, quiet) {
        (0, true) => "warn",
        (0, false) => "lockstep=info,generate=info,ingest=info,query=info,api=info",
        (1, _) => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // Colours only for a person at a terminal, never in a file or a pipe.
    let colours = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colours)
        .with_writer(std::io::stderr);
    if json {
        logs.json().init();
    } else {
        logs.init();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_well_formed() {
        // clap checks its definitions only for the subcommand that runs; this checks all.
        <super::Args as clap::CommandFactory>::command().debug_assert();
    }
}
