//! What changes when a group flips a collection to *Enforce rules* during the window
//! (`--enforce GROUP:COLLECTION:DAY`), and the generator's ground truth for the weeks after.
//!
//! The generator does not run lockstep, so it models the candidate the admin published
//! before the flip: every app of the collection the group could run is allowed (signed
//! files by publisher, any version; unsigned files by hash, the versions of the catalog),
//! except the apps in [`BLOCKED_ON_PURPOSE`] and the group's most-run long-tail tool, which
//! the admin decided to block. After the flip:
//! - allowed apps keep running (8002/8005/8020 with [`CANDIDATE_RULE`]);
//! - the apps blocked on purpose log blocks: *expected* blocks, once decided `block`;
//! - [`new_apps`] appear (first run on the flip day): *unexpected* blocks;
//! - one unsigned app the candidate allows by hash gets a new version two days after the
//!   flip on half of the group's hosts: its new hash no rule covers, *unexpected* blocks.
//!
//! The manifest's `flips` lists each of these, so tests can check lockstep's exception
//! queue app by app. Fleets without `--enforce` are not touched by any of this.

use crate::catalog::{AppSpec, Audience, Collection, app_seed};
use crate::fleet::Group;
use crate::policy::{RuleRef, allowing_rule, applocker_path};
use crate::rng::stable_hash;

/// Apps an admin blocks on purpose when they show up in audit: a USB flashing tool, a
/// remote-management agent dropped in `Windows\Temp`, an installer from Downloads, a
/// packaged messenger and a VBScript macro export.
pub(crate) const BLOCKED_ON_PURPOSE: &[&str] = &[
    "usb-flasher",
    "rmm-agent",
    "vendor-msi",
    "whatsapp-appx",
    "macro-export",
];

/// How allowed events name the rule after the flip: the group's published policy.
pub(crate) const CANDIDATE_RULE: RuleRef = RuleRef {
    id: "6c0f3e2a-4d8b-4f59-a1e7-2b9c8d5e7f30",
    name: "lockstep: allowed from the audit evidence",
    sddl: "D:(XA;;FX;;;S-1-1-0;(APPID://FQBN Exists))",
};

/// Days between the flip and the new version's first run.
const NEW_VERSION_AFTER_DAYS: usize = 2;

/// One flip as the generator plays it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FlipPlan {
    pub collection: Collection,
    /// First enforced day of the window (0-based).
    pub day: usize,
    /// Catalog indexes of the apps the admin decided to block.
    #[serde(skip)]
    pub blocked_on_purpose: Vec<usize>,
    /// Catalog indexes of the apps first run on the flip day.
    #[serde(skip)]
    pub new_apps: Vec<usize>,
    #[serde(skip)]
    pub new_version: Option<NewVersion>,
}

/// An allowed unsigned app's version that appears after the flip.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct NewVersion {
    /// Catalog index.
    pub app: usize,
    pub version: [u32; 4],
    /// First day of the window it runs on (on half of the group's hosts).
    pub from_day: usize,
}

impl NewVersion {
    /// Whether `host` is one of the half of the group's hosts that update.
    pub(crate) fn updates(&self, host: &str, app: &AppSpec) -> bool {
        stable_hash(&[host, &app.key, "new-version"]).is_multiple_of(2)
    }
}

impl FlipPlan {
    /// Plans the flip of `group` (index `group_index`) and appends its new apps to `catalog`.
    pub(crate) fn new(
        catalog: &mut Vec<AppSpec>,
        group: &Group,
        group_index: usize,
        collection: Collection,
        day: usize,
        days: usize,
    ) -> FlipPlan {
        let candidates: Vec<usize> = (0..catalog.len())
            .filter(|&i| {
                let app = &catalog[i];
                app.collection == collection
                    && runs_in(app, group, group_index)
                    && !allowed_by_current_policy(app)
            })
            .collect();
        let first_tail = format!("tail-{group_index}-0-");
        let blocked_on_purpose: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|&i| {
                BLOCKED_ON_PURPOSE.contains(&catalog[i].key.as_str())
                    || catalog[i].key.starts_with(&first_tail)
            })
            .collect();
        let new_version = candidates
            .iter()
            .copied()
            .filter(|&i| {
                let app = &catalog[i];
                app.publisher.is_none()
                    && !app.policy_test_noise
                    && app.versions.len() == 1
                    && !blocked_on_purpose.contains(&i)
            })
            .max_by(|&a, &b| {
                let share = |i: usize| catalog[i].weight * catalog[i].install_share;
                share(a).total_cmp(&share(b)).then(b.cmp(&a))
            })
            .map(|app| {
                let [major, minor, ..] = catalog[app].versions[0];
                NewVersion {
                    app,
                    version: [major, minor + 1, 0, 0],
                    from_day: (day + NEW_VERSION_AFTER_DAYS).min(days - 1),
                }
            });
        let new_apps = new_apps(group, group_index, collection, day)
            .into_iter()
            .map(|app| {
                catalog.push(app);
                catalog.len() - 1
            })
            .collect();
        FlipPlan {
            collection,
            day,
            blocked_on_purpose,
            new_apps,
            new_version,
        }
    }

    /// What the group's hosts do with `app` at `version` on an enforced day of this flip,
    /// when the current policy has no rule for it: allowed by the candidate, or blocked.
    pub(crate) fn candidate_allows(
        &self,
        app_index: usize,
        app: &AppSpec,
        version: [u32; 4],
    ) -> bool {
        if app.policy_test_noise
            || self.new_apps.contains(&app_index)
            || self.blocked_on_purpose.contains(&app_index)
        {
            return false;
        }
        // Unsigned files are allowed by hash: only the versions the audit saw.
        app.publisher.is_some() || app.versions.contains(&version)
    }
}

/// Whether a group's hosts may have `app` installed.
pub(crate) fn runs_in(app: &AppSpec, group: &Group, group_index: usize) -> bool {
    match &app.audience {
        Audience::Everyone => true,
        Audience::Kinds(kinds) => kinds.contains(&group.kind),
        Audience::Group(g) => *g == group_index,
    }
}

fn allowed_by_current_policy(app: &AppSpec) -> bool {
    let path = applocker_path(&app.path.replace("{user}", "user"));
    allowing_rule(app.collection, &path, app.publisher.as_deref()).is_some()
}

/// The apps that appear in a group on the day it flips `collection`: an unsigned tool and,
/// for EXE, a signed remote-support app nobody had run before.
pub(crate) fn new_apps(
    group: &Group,
    group_index: usize,
    collection: Collection,
    day: usize,
) -> Vec<AppSpec> {
    let app = |key: &str, publisher: Option<&str>, product: &str, binary: &str, path: &str| {
        let mut spec = AppSpec {
            key: format!(
                "new-{}-{}-{key}",
                group.name,
                collection.as_str().to_lowercase()
            ),
            collection,
            publisher: publisher.map(str::to_owned),
            product: product.to_owned(),
            binary: binary.to_owned(),
            path: path.to_owned(),
            versions: vec![[1, 0, 0, 0]],
            weight: 0.8,
            // On every host of the group, so each flip's new apps surely run.
            install_share: 1.0,
            audience: Audience::Group(group_index),
            policy_test_noise: false,
            first_day: day,
        };
        spec.versions = vec![[1 + (app_seed(&spec) % 5) as u32, 0, 0, 0]];
        spec
    };
    match collection {
        Collection::Exe => vec![
            app(
                "screenrec",
                None,
                "",
                "",
                r"C:\Users\{user}\Downloads\ScreenRecorder.exe",
            ),
            app(
                "anydesk",
                Some("CN=ANYDESK SOFTWARE GMBH, O=ANYDESK SOFTWARE GMBH, L=STUTTGART, C=DE"),
                "ANYDESK",
                "ANYDESK.EXE",
                r"C:\Users\{user}\Downloads\AnyDesk.exe",
            ),
        ],
        Collection::Dll => vec![app(
            "plugin",
            None,
            "",
            "",
            r"C:\Users\{user}\AppData\Local\Programs\Helper\plugin.dll",
        )],
        Collection::Script => vec![app(
            "fix-printer",
            None,
            "",
            "",
            r"C:\Users\{user}\Desktop\Fix-Printer.ps1",
        )],
        Collection::Msi => vec![app(
            "pdftool",
            None,
            "",
            "",
            r"C:\Users\{user}\Downloads\PdfTool-Setup.msi",
        )],
        Collection::Appx => vec![app(
            "notes",
            Some("CN=6E1F2C3A-88B4-4D2E-9C71-5A0B3D4E8F12"),
            "NOTESVENDOR.QUICKNOTES",
            "APPX",
            "NotesVendor.QuickNotes",
        )],
    }
}

/// A flip in `manifest.json`: what the generator did, for tests to compare with.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FlipManifest {
    pub group: String,
    pub collection: Collection,
    pub day: usize,
    /// The first enforced day as a date (`YYYY-MM-DD`).
    pub date: String,
    /// Apps the generator's candidate blocks on purpose: expected blocks once decided `block`.
    pub blocked_on_purpose: Vec<ManifestApp>,
    /// Apps first run on the flip day: unexpected blocks.
    pub new_apps: Vec<ManifestApp>,
    /// Allowed unsigned apps' new versions (from `from_day` on): unexpected blocks.
    pub new_versions: Vec<ManifestApp>,
}

/// An app of the catalog as lockstep identifies it (docs/architecture.md "App identity").
#[derive(Debug, Clone, serde::Serialize)]
pub struct ManifestApp {
    pub key: String,
    /// On-disk path, `{user}` for the user's profile folder (packaged apps: the package).
    pub path: String,
    pub publisher: Option<String>,
    pub product: Option<String>,
    pub binary: Option<String>,
    /// Unsigned files: the SHA-256 lockstep keeps (upper-case hex); one per version.
    pub file_hashes: Vec<String>,
    /// First day it runs on (new versions: on half of the group's hosts).
    pub from_day: usize,
}

impl ManifestApp {
    fn new(app: &AppSpec, versions: &[[u32; 4]], from_day: usize) -> ManifestApp {
        let signed = app.publisher.is_some();
        let text = |s: &str| (signed && !s.is_empty()).then(|| s.to_owned());
        ManifestApp {
            key: app.key.clone(),
            path: app.path.clone(),
            publisher: app.publisher.clone(),
            product: text(&app.product),
            binary: text(&app.binary),
            file_hashes: if signed {
                Vec::new()
            } else {
                versions
                    .iter()
                    .map(|v| {
                        crate::catalog::file_hash(app, *v)
                            .iter()
                            .map(|b| format!("{b:02X}"))
                            .collect()
                    })
                    .collect()
            },
            from_day,
        }
    }
}

/// The manifest's `flips`, in `--enforce` order.
pub(crate) fn manifest(opts: &crate::Options, fleet: &crate::Fleet) -> Vec<FlipManifest> {
    let catalog = &fleet.catalog;
    opts.enforce
        .iter()
        .filter_map(|flip| {
            let group = fleet.groups.iter().find(|g| g.name == flip.group)?;
            let plan = group
                .flips
                .iter()
                .find(|p| p.collection == flip.collection)?;
            let listed = |apps: &[usize], from_day: usize| -> Vec<ManifestApp> {
                apps.iter()
                    .map(|&i| ManifestApp::new(&catalog[i], &catalog[i].versions, from_day))
                    .collect()
            };
            Some(FlipManifest {
                group: group.name.clone(),
                collection: plan.collection,
                day: plan.day,
                date: (opts.start + chrono::Days::new(plan.day as u64)).to_string(),
                blocked_on_purpose: listed(&plan.blocked_on_purpose, 0),
                new_apps: listed(&plan.new_apps, plan.day),
                new_versions: plan
                    .new_version
                    .iter()
                    .map(|v| ManifestApp::new(&catalog[v.app], &[v.version], v.from_day))
                    .collect(),
            })
        })
        .collect()
}
