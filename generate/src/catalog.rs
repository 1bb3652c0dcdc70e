//! The software a simulated fleet runs: signed apps in Program Files and in user profiles,
//! unsigned tools in Downloads/AppData/Temp, scripts, installers and packaged apps.
//!
//! Paths are written as Windows shows them on disk (`C:\Users\{user}\...`, original case);
//! `policy::applocker_path` turns them into the upper-cased `%OSDRIVE%\...` form AppLocker
//! logs. `{user}` is replaced by the user that runs the file.

use crate::rng::{Rng, stable_hash};

/// An AppLocker rule collection (the event table's value list).
pub use schema::Collection;

/// Which groups run an app.
#[derive(Debug, Clone, PartialEq)]
pub enum Audience {
    /// Every group.
    Everyone,
    /// Only groups whose *kind* (see `fleet::GROUP_KINDS`) is listed.
    Kinds(&'static [&'static str]),
    /// One group, by index (long-tail tools).
    Group(usize),
}

/// One app (or script, installer, package) as the fleet runs it.
#[derive(Debug, Clone)]
pub struct AppSpec {
    /// A stable name for bookkeeping, unique in the catalog.
    pub key: String,
    pub collection: Collection,
    /// Subject DN of the signer as AppLocker renders it; `None` for unsigned files.
    pub publisher: Option<String>,
    /// ProductName and OriginalFilename from the version resource (upper case).
    pub product: String,
    pub binary: String,
    /// Full path on disk with `{user}`; for packaged apps the package name.
    pub path: String,
    /// Versions in release order; hosts move to newer ones over the window.
    pub versions: Vec<[u32; 4]>,
    /// Relative run frequency on a host that has the app.
    pub weight: f64,
    /// Share of the audience's hosts that have it installed.
    pub install_share: f64,
    pub audience: Audience,
    /// PowerShell's `__PSSCRIPTPOLICYTEST_*` probe: a new random name on every run.
    pub policy_test_noise: bool,
    /// First day of the window the app runs on: 0, or the day of a flip that brings it.
    pub first_day: usize,
}

const MS: &str = "O=MICROSOFT CORPORATION, L=REDMOND, S=WASHINGTON, C=US";

struct Def {
    key: &'static str,
    collection: Collection,
    publisher: Option<&'static str>,
    product: &'static str,
    binary: &'static str,
    path: &'static str,
    versions: &'static [[u32; 4]],
    weight: f64,
    install_share: f64,
    audience: Audience,
}

use Collection::{Appx, Dll, Exe, Msi, Script};

/// The named catalog. Weights are relative run frequencies.
fn named_apps() -> Vec<Def> {
    let all = Audience::Everyone;
    vec![
        // --- Allowed by the default rules (Program Files / Windows) ---
        Def {
            key: "explorer",
            collection: Exe,
            publisher: Some(MS),
            product: "MICROSOFT® WINDOWS® OPERATING SYSTEM",
            binary: "EXPLORER.EXE",
            path: r"C:\Windows\explorer.exe",
            versions: &[[10, 0, 22621, 4317]],
            weight: 6.0,
            install_share: 1.0,
            audience: all.clone(),
        },
        Def {
            key: "conhost",
            collection: Exe,
            publisher: Some(MS),
            product: "MICROSOFT® WINDOWS® OPERATING SYSTEM",
            binary: "CONHOST.EXE",
            path: r"C:\Windows\System32\conhost.exe",
            versions: &[[10, 0, 22621, 4317]],
            weight: 5.0,
            install_share: 1.0,
            audience: all.clone(),
        },
        Def {
            key: "winword",
            collection: Exe,
            publisher: Some(MS),
            product: "MICROSOFT OFFICE",
            binary: "WINWORD.EXE",
            path: r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE",
            versions: &[[16, 0, 17928, 20114], [16, 0, 18025, 20104]],
            weight: 5.0,
            install_share: 1.0,
            audience: all.clone(),
        },
        Def {
            key: "excel",
            collection: Exe,
            publisher: Some(MS),
            product: "MICROSOFT OFFICE",
            binary: "EXCEL.EXE",
            path: r"C:\Program Files\Microsoft Office\root\Office16\EXCEL.EXE",
            versions: &[[16, 0, 17928, 20114], [16, 0, 18025, 20104]],
            weight: 5.0,
            install_share: 1.0,
            audience: all.clone(),
        },
        Def {
            key: "chrome",
            collection: Exe,
            publisher: Some("CN=GOOGLE LLC, O=GOOGLE LLC, L=MOUNTAIN VIEW, S=CALIFORNIA, C=US"),
            product: "GOOGLE CHROME",
            binary: "CHROME.EXE",
            path: r"C:\Program Files\Google\Chrome\Application\chrome.exe",
            versions: &[[130, 0, 6723, 70], [131, 0, 6778, 86]],
            weight: 6.0,
            install_share: 0.9,
            audience: all.clone(),
        },
        Def {
            key: "acrobat",
            collection: Exe,
            publisher: Some("CN=ADOBE INC., OU=ACROBAT DC, O=ADOBE INC., L=SAN JOSE, S=CA, C=US"),
            product: "ADOBE ACROBAT",
            binary: "ACROBAT.EXE",
            path: r"C:\Program Files\Adobe\Acrobat DC\Acrobat\Acrobat.exe",
            versions: &[[24, 3, 20180, 0]],
            weight: 2.0,
            install_share: 0.8,
            audience: all.clone(),
        },
        Def {
            key: "ps-profile",
            collection: Script,
            publisher: None,
            product: "",
            binary: "",
            path: r"C:\Windows\System32\WindowsPowerShell\v1.0\Modules\Microsoft.PowerShell.Operation.Validation\1.0.1\Diagnostics\Comprehensive\Comprehensive.Tests.ps1",
            versions: &[[0, 0, 0, 0]],
            weight: 0.5,
            install_share: 1.0,
            audience: all.clone(),
        },
        Def {
            key: "msi-cache",
            collection: Msi,
            publisher: Some(MS),
            product: "MICROSOFT 365 APPS",
            binary: "",
            path: r"C:\Windows\Installer\1a2b3c4d.msi",
            versions: &[[16, 0, 17928, 20114]],
            weight: 0.3,
            install_share: 1.0,
            audience: all.clone(),
        },
        Def {
            key: "store-photos",
            collection: Appx,
            publisher: Some(
                "CN=MICROSOFT CORPORATION, O=MICROSOFT CORPORATION, L=REDMOND, S=WASHINGTON, C=US",
            ),
            product: "MICROSOFT.WINDOWS.PHOTOS",
            binary: "APPX",
            path: "Microsoft.Windows.Photos",
            versions: &[[2024, 11090, 19004, 0]],
            weight: 1.5,
            install_share: 1.0,
            audience: all.clone(),
        },
        Def {
            key: "store-calculator",
            collection: Appx,
            publisher: Some(
                "CN=MICROSOFT CORPORATION, O=MICROSOFT CORPORATION, L=REDMOND, S=WASHINGTON, C=US",
            ),
            product: "MICROSOFT.WINDOWSCALCULATOR",
            binary: "APPX",
            path: "Microsoft.WindowsCalculator",
            versions: &[[11, 2405, 2, 0]],
            weight: 1.0,
            install_share: 1.0,
            audience: all.clone(),
        },
        // --- Would be blocked: signed, installed per user ---
        Def {
            key: "teams-classic-update",
            collection: Exe,
            publisher: Some(MS),
            product: "MICROSOFT TEAMS",
            binary: "UPDATE.EXE",
            path: r"C:\Users\{user}\AppData\Local\Microsoft\Teams\Update.exe",
            versions: &[[1, 5, 0, 30767]],
            weight: 1.5,
            install_share: 0.6,
            audience: all.clone(),
        },
        Def {
            key: "slack-update",
            collection: Exe,
            publisher: Some(
                "CN=SLACK TECHNOLOGIES, LLC, O=SLACK TECHNOLOGIES, LLC, L=SAN FRANCISCO, S=CALIFORNIA, C=US",
            ),
            product: "SLACK",
            binary: "UPDATE.EXE",
            path: r"C:\Users\{user}\AppData\Local\slack\Update.exe",
            versions: &[[1, 5, 2, 0]],
            weight: 1.2,
            install_share: 0.5,
            audience: Audience::Kinds(&["engineering", "marketing", "sales", "support"]),
        },
        Def {
            key: "slack",
            collection: Exe,
            publisher: Some(
                "CN=SLACK TECHNOLOGIES, LLC, O=SLACK TECHNOLOGIES, LLC, L=SAN FRANCISCO, S=CALIFORNIA, C=US",
            ),
            product: "SLACK",
            binary: "SLACK.EXE",
            path: r"C:\Users\{user}\AppData\Local\slack\app-4.41.97\slack.exe",
            versions: &[[4, 41, 97, 0]],
            weight: 3.0,
            install_share: 0.5,
            audience: Audience::Kinds(&["engineering", "marketing", "sales", "support"]),
        },
        Def {
            key: "zoom",
            collection: Exe,
            publisher: Some(
                "CN=\"ZOOM VIDEO COMMUNICATIONS, INC.\", O=\"ZOOM VIDEO COMMUNICATIONS, INC.\", L=SAN JOSE, S=CALIFORNIA, C=US",
            ),
            product: "ZOOM",
            binary: "ZOOM.EXE",
            path: r"C:\Users\{user}\AppData\Roaming\Zoom\bin\Zoom.exe",
            versions: &[[6, 2, 5, 48880], [6, 2, 7, 49583], [6, 3, 0, 52884]],
            weight: 3.0,
            install_share: 0.7,
            audience: all.clone(),
        },
        Def {
            key: "onedrive",
            collection: Exe,
            publisher: Some(MS),
            product: "MICROSOFT ONEDRIVE",
            binary: "ONEDRIVE.EXE",
            path: r"C:\Users\{user}\AppData\Local\Microsoft\OneDrive\OneDrive.exe",
            versions: &[[24, 201, 1006, 5]],
            weight: 2.5,
            install_share: 0.9,
            audience: all.clone(),
        },
        Def {
            key: "webex",
            collection: Exe,
            publisher: Some(
                "CN=CISCO WEBEX LLC, O=CISCO WEBEX LLC, L=SAN JOSE, S=CALIFORNIA, C=US",
            ),
            product: "CISCO WEBEX MEETINGS",
            binary: "ATMGR.EXE",
            path: r"C:\Users\{user}\AppData\Local\WebEx\WebEx\Applications\atmgr.exe",
            versions: &[[44, 10, 0, 0]],
            weight: 1.5,
            install_share: 0.6,
            audience: Audience::Kinds(&["sales", "executive"]),
        },
        Def {
            key: "vscode-user",
            collection: Exe,
            publisher: Some(MS),
            product: "VISUAL STUDIO CODE",
            binary: "ELECTRON.EXE",
            path: r"C:\Users\{user}\AppData\Local\Programs\Microsoft VS Code\Code.exe",
            versions: &[[1, 93, 1, 0], [1, 94, 2, 0], [1, 95, 3, 0]],
            weight: 4.0,
            install_share: 0.8,
            audience: Audience::Kinds(&["engineering", "it-ops", "research"]),
        },
        Def {
            key: "git",
            collection: Exe,
            publisher: Some("O=JOHANNES SCHINDELIN, S=NORDRHEIN-WESTFALEN, C=DE"),
            product: "GIT",
            binary: "GIT.EXE",
            path: r"C:\Users\{user}\AppData\Local\GitHubDesktop\app-3.4.8\resources\app\git\mingw64\bin\git.exe",
            versions: &[[2, 45, 2, 1], [2, 47, 0, 1]],
            weight: 3.0,
            install_share: 0.7,
            audience: Audience::Kinds(&["engineering", "research"]),
        },
        Def {
            key: "python",
            collection: Exe,
            publisher: Some(
                "CN=PYTHON SOFTWARE FOUNDATION, O=PYTHON SOFTWARE FOUNDATION, L=BEAVERTON, S=OREGON, C=US",
            ),
            product: "PYTHON",
            binary: "PYTHON.EXE",
            path: r"C:\Users\{user}\AppData\Local\Programs\Python\Python3\python.exe",
            versions: &[[3, 9, 13, 150], [3, 10, 11, 1013], [3, 12, 7, 1150]],
            weight: 2.5,
            install_share: 0.6,
            audience: Audience::Kinds(&["engineering", "research", "finance"]),
        },
        Def {
            key: "python-dll",
            collection: Dll,
            publisher: Some(
                "CN=PYTHON SOFTWARE FOUNDATION, O=PYTHON SOFTWARE FOUNDATION, L=BEAVERTON, S=OREGON, C=US",
            ),
            product: "PYTHON",
            binary: "PYTHON312.DLL",
            path: r"C:\Users\{user}\AppData\Local\Programs\Python\Python3\python312.dll",
            versions: &[[3, 12, 7, 1150]],
            weight: 1.0,
            install_share: 0.6,
            audience: Audience::Kinds(&["engineering", "research"]),
        },
        Def {
            key: "node-native",
            collection: Dll,
            publisher: None,
            product: "",
            binary: "",
            path: r"C:\Users\{user}\source\repos\webapp\node_modules\esbuild\esbuild.node",
            versions: &[[0, 0, 0, 0]],
            weight: 0.6,
            install_share: 0.4,
            audience: Audience::Kinds(&["engineering"]),
        },
        Def {
            key: "notepadpp-portable",
            collection: Exe,
            publisher: Some("CN=\"NOTEPAD++\", O=\"NOTEPAD++\", S=ILE-DE-FRANCE, C=FR"),
            product: "NOTEPAD++",
            binary: "NOTEPAD++.EXE",
            path: r"C:\Users\{user}\Documents\Tools\npp\notepad++.exe",
            versions: &[[8, 6, 9, 0], [8, 7, 1, 0]],
            weight: 1.0,
            install_share: 0.3,
            audience: all.clone(),
        },
        Def {
            key: "bginfo",
            collection: Exe,
            publisher: Some(MS),
            product: "BGINFO",
            binary: "BGINFO.EXE",
            path: r"C:\Users\{user}\Downloads\BGInfo\Bginfo64.exe",
            versions: &[[4, 28, 0, 0], [4, 32, 0, 0]],
            weight: 0.8,
            install_share: 0.6,
            audience: Audience::Kinds(&["it-ops"]),
        },
        Def {
            key: "procexp",
            collection: Exe,
            publisher: Some(MS),
            product: "SYSINTERNALS PROCESS EXPLORER",
            binary: "PROCEXP.EXE",
            path: r"C:\Users\{user}\Downloads\SysinternalsSuite\procexp64.exe",
            versions: &[[17, 6, 0, 0]],
            weight: 1.0,
            install_share: 0.7,
            audience: Audience::Kinds(&["it-ops"]),
        },
        Def {
            key: "putty",
            collection: Exe,
            publisher: Some("CN=SIMON TATHAM, O=SIMON TATHAM, S=CAMBRIDGESHIRE, C=GB"),
            product: "PUTTY SUITE",
            binary: "PUTTY.EXE",
            path: r"C:\Users\{user}\Downloads\putty.exe",
            versions: &[[0, 81, 0, 0], [0, 82, 0, 0]],
            weight: 1.5,
            install_share: 0.8,
            audience: Audience::Kinds(&["it-ops", "engineering"]),
        },
        Def {
            key: "winscp",
            collection: Exe,
            publisher: Some("CN=MARTIN PRIKRYL, O=MARTIN PRIKRYL, L=PRAGUE, C=CZ"),
            product: "WINSCP",
            binary: "WINSCP.EXE",
            path: r"E:\PortableApps\WinSCP\WinSCP.exe",
            versions: &[[6, 3, 5, 0]],
            weight: 0.6,
            install_share: 0.4,
            audience: Audience::Kinds(&["it-ops"]),
        },
        Def {
            key: "bloomberg",
            collection: Exe,
            publisher: Some(
                "CN=BLOOMBERG FINANCE L.P., O=BLOOMBERG FINANCE L.P., L=NEW YORK, S=NEW YORK, C=US",
            ),
            product: "BLOOMBERG",
            binary: "WINTRV.EXE",
            path: r"D:\blp\Wintrv\wintrv.exe",
            versions: &[[3, 112, 1, 2]],
            weight: 3.0,
            install_share: 0.7,
            audience: Audience::Kinds(&["finance", "executive"]),
        },
        Def {
            key: "citrix",
            collection: Exe,
            publisher: Some(
                "CN=\"CITRIX SYSTEMS, INC.\", O=\"CITRIX SYSTEMS, INC.\", L=FORT LAUDERDALE, S=FLORIDA, C=US",
            ),
            product: "CITRIX WORKSPACE",
            binary: "SELFSERVICE.EXE",
            path: r"C:\Users\{user}\AppData\Local\Citrix\SelfService\SelfService.exe",
            versions: &[[24, 9, 10, 28]],
            weight: 1.5,
            install_share: 0.5,
            audience: Audience::Kinds(&["finance", "hr", "legal"]),
        },
        Def {
            key: "figma",
            collection: Exe,
            publisher: Some(
                "CN=\"FIGMA, INC.\", O=\"FIGMA, INC.\", L=SAN FRANCISCO, S=CALIFORNIA, C=US",
            ),
            product: "FIGMA",
            binary: "FIGMA.EXE",
            path: r"C:\Users\{user}\AppData\Local\Figma\app-124.6.5\Figma.exe",
            versions: &[[124, 6, 5, 0]],
            weight: 2.5,
            install_share: 0.7,
            audience: Audience::Kinds(&["marketing"]),
        },
        // --- Would be blocked: unsigned tools in user-writable places ---
        Def {
            key: "finrecon",
            collection: Exe,
            publisher: None,
            product: "",
            binary: "",
            path: r"\\FINSRV01\Apps\FinRecon\FINRECON.EXE",
            versions: &[[2, 1, 0, 0]],
            weight: 2.0,
            install_share: 0.8,
            audience: Audience::Kinds(&["finance"]),
        },
        Def {
            key: "payrollsync",
            collection: Exe,
            publisher: None,
            product: "",
            binary: "",
            path: r"C:\ProgramData\PayrollSync\payrollsync.exe",
            versions: &[[1, 0, 4, 0]],
            weight: 1.5,
            install_share: 0.9,
            audience: Audience::Kinds(&["hr"]),
        },
        Def {
            key: "quotegen",
            collection: Exe,
            publisher: None,
            product: "",
            binary: "",
            path: r"C:\Users\{user}\Desktop\QuoteGen.exe",
            versions: &[[1, 2, 0, 0]],
            weight: 1.0,
            install_share: 0.5,
            audience: Audience::Kinds(&["sales"]),
        },
        Def {
            key: "jq",
            collection: Exe,
            publisher: None,
            product: "",
            binary: "",
            path: r"C:\Users\{user}\Downloads\jq-windows-amd64.exe",
            versions: &[[1, 7, 1, 0]],
            weight: 0.5,
            install_share: 0.4,
            audience: Audience::Kinds(&["engineering"]),
        },
        Def {
            key: "rmm-agent",
            collection: Exe,
            publisher: None,
            product: "",
            binary: "",
            path: r"C:\Windows\Temp\rmm_agent.exe",
            versions: &[[3, 0, 0, 0]],
            weight: 0.3,
            install_share: 0.3,
            audience: Audience::Kinds(&["it-ops"]),
        },
        Def {
            key: "usb-flasher",
            collection: Exe,
            publisher: None,
            product: "",
            binary: "",
            path: r"%HOT%\Tools\flasher.exe",
            versions: &[[1, 0, 0, 0]],
            weight: 0.2,
            install_share: 0.3,
            audience: Audience::Kinds(&["it-ops", "engineering"]),
        },
        // --- Scripts ---
        Def {
            key: "ps-policy-test",
            collection: Script,
            publisher: None,
            product: "",
            binary: "",
            path: r"C:\Users\{user}\AppData\Local\Temp\__PSScriptPolicyTest_{rand}.ps1",
            versions: &[[0, 0, 0, 0]],
            weight: 4.0,
            install_share: 1.0,
            audience: all.clone(),
        },
        Def {
            key: "logon-script",
            collection: Script,
            publisher: None,
            product: "",
            binary: "",
            path: r"\\corp.example.com\SYSVOL\corp.example.com\scripts\logon.bat",
            versions: &[[0, 0, 0, 0]],
            weight: 1.0,
            install_share: 1.0,
            audience: all.clone(),
        },
        Def {
            key: "admin-scripts",
            collection: Script,
            publisher: None,
            product: "",
            binary: "",
            path: r"C:\Scripts\Get-Inventory.ps1",
            versions: &[[0, 0, 0, 0]],
            weight: 1.0,
            install_share: 0.9,
            audience: Audience::Kinds(&["it-ops"]),
        },
        Def {
            key: "psscriptanalyzer",
            collection: Script,
            publisher: Some(MS),
            product: "",
            binary: "",
            path: r"C:\Users\{user}\.vscode\extensions\ms-vscode.powershell-2024.4.0\modules\PSScriptAnalyzer\1.22.0\PSScriptAnalyzer.psm1",
            versions: &[[0, 0, 0, 0]],
            weight: 1.0,
            install_share: 0.5,
            audience: Audience::Kinds(&["engineering", "it-ops"]),
        },
        Def {
            key: "macro-export",
            collection: Script,
            publisher: None,
            product: "",
            binary: "",
            path: r"C:\Users\{user}\Documents\Macros\export-ledger.vbs",
            versions: &[[0, 0, 0, 0]],
            weight: 0.8,
            install_share: 0.5,
            audience: Audience::Kinds(&["finance"]),
        },
        // --- Installers ---
        Def {
            key: "zoom-msi",
            collection: Msi,
            publisher: Some(
                "CN=\"ZOOM VIDEO COMMUNICATIONS, INC.\", O=\"ZOOM VIDEO COMMUNICATIONS, INC.\", L=SAN JOSE, S=CALIFORNIA, C=US",
            ),
            product: "ZOOM",
            binary: "",
            path: r"C:\Windows\Installer\5f3a9.msi",
            versions: &[[6, 2, 7, 0]],
            weight: 0.2,
            install_share: 0.5,
            audience: all.clone(),
        },
        Def {
            key: "vendor-msi",
            collection: Msi,
            publisher: None,
            product: "",
            binary: "",
            path: r"C:\Users\{user}\Downloads\VendorTool-Setup.msi",
            versions: &[[0, 0, 0, 0]],
            weight: 0.3,
            install_share: 0.3,
            audience: all.clone(),
        },
        // --- Packaged apps outside the Microsoft-only Appx rule ---
        Def {
            key: "spotify-appx",
            collection: Appx,
            publisher: Some("CN=453637B3-4E12-4CDF-B0D3-2A3C863BF6EF"),
            product: "SPOTIFYAB.SPOTIFYMUSIC",
            binary: "APPX",
            path: "SpotifyAB.SpotifyMusic",
            versions: &[[1, 248, 420, 0]],
            weight: 1.0,
            install_share: 0.3,
            audience: all.clone(),
        },
        Def {
            key: "whatsapp-appx",
            collection: Appx,
            publisher: Some("CN=24803D75-212C-471A-BC57-9EF86AB91435"),
            product: "5319275A.WHATSAPPDESKTOP",
            binary: "APPX",
            path: "5319275A.WhatsAppDesktop",
            versions: &[[2, 2440, 9, 0]],
            weight: 0.8,
            install_share: 0.3,
            audience: Audience::Kinds(&["sales", "marketing", "support"]),
        },
    ]
}

const TAIL_WORDS_A: &[&str] = &[
    "Data", "Report", "Quick", "Sync", "Ledger", "Label", "Batch", "Invoice", "Screen", "Win",
    "Net", "File", "Mail", "Print", "Scan", "Time", "Task", "Audit", "Chart", "Form",
];
const TAIL_WORDS_B: &[&str] = &[
    "Tool", "Helper", "Gen", "Viewer", "Agent", "Fix", "Merge", "Clip", "Pad", "Runner", "Export",
    "Sync", "Check", "Mate", "Kit",
];
const TAIL_DIRS: &[&str] = &[
    r"C:\Users\{user}\Downloads",
    r"C:\Users\{user}\Desktop",
    r"C:\Users\{user}\AppData\Local\Temp",
    r"C:\Users\{user}\AppData\Roaming",
    r"C:\ProgramData",
    r"C:\Tools",
];

/// The catalog for a fleet: named apps plus a long tail of unsigned tools per group.
pub(crate) fn build_catalog(seed: u64, groups: usize, tail_per_group: usize) -> Vec<AppSpec> {
    let mut apps: Vec<AppSpec> = named_apps()
        .into_iter()
        .map(|d| AppSpec {
            key: d.key.to_owned(),
            collection: d.collection,
            publisher: d.publisher.map(str::to_owned),
            product: d.product.to_owned(),
            binary: d.binary.to_owned(),
            path: d.path.to_owned(),
            versions: d.versions.to_vec(),
            weight: d.weight,
            install_share: d.install_share,
            audience: d.audience,
            policy_test_noise: d.key == "ps-policy-test",
            first_day: 0,
        })
        .collect();
    let mut rng = Rng::new(seed, 0x7A11);
    for group in 0..groups {
        for i in 0..tail_per_group {
            let name = format!("{}{}", rng.pick(TAIL_WORDS_A), rng.pick(TAIL_WORDS_B));
            let dir = rng.pick(TAIL_DIRS);
            let version = [1 + rng.below(4) as u32, rng.below(12) as u32, 0, 0];
            apps.push(AppSpec {
                key: format!("tail-{group}-{i}-{}", name.to_lowercase()),
                collection: Exe,
                publisher: None,
                product: String::new(),
                binary: String::new(),
                path: format!(r"{dir}\{name}.exe"),
                versions: vec![version],
                // A long tail: a few tools run often, most rarely.
                weight: 0.6 / (1.0 + i as f64),
                install_share: 0.05 + 0.3 / (1.0 + i as f64),
                audience: Audience::Group(group),
                policy_test_noise: false,
                first_day: 0,
            });
        }
    }
    apps
}

/// Formats a version as AppLocker prints it in an FQBN: the last part has at least two
/// digits (`4.28.0.00`, spec applocker-events.md §6).
pub fn fqbn_version(v: [u32; 4]) -> String {
    format!("{}.{}.{}.{:02}", v[0], v[1], v[2], v[3])
}

/// A stable pseudo-hash for an app version (stands in for the Authenticode SHA-256).
pub(crate) fn file_hash(app: &AppSpec, version: [u32; 4]) -> [u8; 32] {
    crate::rng::fake_sha256(&[&app.key, &fqbn_version(version)])
}

/// Stable per-app number, e.g. for per-host install decisions.
pub(crate) fn app_seed(app: &AppSpec) -> u64 {
    stable_hash(&[&app.key])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_keys_are_unique_and_deterministic() {
        let a = build_catalog(42, 5, 20);
        let b = build_catalog(42, 5, 20);
        let mut keys: Vec<_> = a.iter().map(|x| x.key.clone()).collect();
        assert_eq!(keys, b.iter().map(|x| x.key.clone()).collect::<Vec<_>>());
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), a.len());
    }

    #[test]
    fn same_binary_name_from_two_publishers() {
        let apps = build_catalog(1, 1, 0);
        let updates: Vec<_> = apps.iter().filter(|a| a.binary == "UPDATE.EXE").collect();
        assert_eq!(updates.len(), 2);
        assert_ne!(updates[0].publisher, updates[1].publisher);
    }

    #[test]
    fn versions_print_like_applocker() {
        assert_eq!(fqbn_version([4, 28, 0, 0]), "4.28.0.00");
        assert_eq!(fqbn_version([10, 0, 20348, 2849]), "10.0.20348.2849");
    }
}
