//! The simulated fleet: business groups, hosts, users and the inventory that maps them.

use crate::catalog::{AppSpec, Collection, app_seed, build_catalog};
use crate::flip::{FlipPlan, runs_in};
use crate::rng::{Rng, stable_hash};
use crate::{Error, Options};

/// Business-group kinds with the prefix of their computer names, in the order groups are
/// created (`--groups 3` gives finance, engineering and sales).
pub(crate) const GROUP_KINDS: &[(&str, &str)] = &[
    ("finance", "FIN"),
    ("engineering", "ENG"),
    ("sales", "SAL"),
    ("hr", "HR"),
    ("it-ops", "ITO"),
    ("legal", "LEG"),
    ("marketing", "MKT"),
    ("support", "SUP"),
    ("research", "RND"),
    ("executive", "EXC"),
];

/// The most groups a fleet can have (kinds repeat with a number after the first ten).
pub const MAX_GROUPS: usize = 99;

/// How a group's computers are listed in `inventory.csv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum InventoryStyle {
    /// One glob line, e.g. `FIN-*`.
    Glob,
    /// One line per computer, short names (some computers deliberately left out).
    ShortNames,
    /// One line per computer, as each logs itself (FQDN or short name).
    AsLogged,
}

/// A business group.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Group {
    pub name: String,
    pub kind: &'static str,
    pub prefix: String,
    /// Collections already set to *Enforce rules* in this group: they log blocks, not audits.
    pub enforced: Vec<Collection>,
    /// Collections set to *Enforce rules* from a day of the window on (`--enforce`).
    #[serde(skip)]
    pub flips: Vec<FlipPlan>,
    pub inventory_style: InventoryStyle,
}

impl Group {
    /// Whether `collection` is enforced on `day` of the window.
    pub fn enforced_on(&self, collection: Collection, day: usize) -> bool {
        self.enforced.contains(&collection) || self.flip_on(collection, day).is_some()
    }

    /// The flip that has `collection` enforced on `day`, if any.
    pub fn flip_on(&self, collection: Collection, day: usize) -> Option<&FlipPlan> {
        self.flips
            .iter()
            .find(|f| f.collection == collection && day >= f.day)
    }
}

/// What a host logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum HostRole {
    /// AppLocker events of every kind.
    Normal,
    /// Only 8001 (policy applied): the AppLocker service runs but nothing is audited.
    PolicyOnly,
    /// Nothing at all: in the inventory, never reporting.
    Silent,
}

/// Which `RuleAndFileData` fields the host's Windows build logs (applocker-events.md §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum PayloadShape {
    /// All 18 fields (Windows 10/11).
    Full,
    /// No `FullFilePathLength`/`FullFilePath`.
    NoFullFilePath,
    /// Stops after `Fqbn` (no `TargetLogonId`, no `FullFilePath`).
    NoTargetLogonId,
    /// An export that dropped every `*Length` field.
    NoLengths,
}

/// How a host's values are typed, the variants readers must accept (evtx-format.md §5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct HostStyle {
    pub payload: PayloadShape,
    /// `FileHash` as String text `0x…` instead of Binary.
    pub hash_as_text: bool,
    /// `RuleId` as String text in upper case instead of Guid.
    pub rule_id_as_text: bool,
}

/// A user account.
#[derive(Debug, Clone, serde::Serialize)]
pub struct User {
    pub name: String,
    pub sid: String,
}

/// A computer of the fleet.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Host {
    /// Upper-case short name, e.g. `FIN-WS003`.
    pub short_name: String,
    /// `System/Computer` as the host logs it (FQDN or short name, in its own case).
    pub computer: String,
    pub group: usize,
    pub role: HostRole,
    pub style: HostStyle,
    /// Indexes into `Fleet::users`; the first is the primary user.
    pub users: Vec<usize>,
    /// Listed (directly or by glob) in `inventory.csv`.
    pub in_inventory: bool,
    /// Collector index when the host's events go to a ForwardedEvents file.
    pub collector: Option<usize>,
    /// Rendering culture on collectors that receive RenderedText (`en-US`, `de-DE`).
    pub culture: &'static str,
    /// Runs an App Control (WDAC) script policy too: some script checks log 8028/8029.
    pub wdac: bool,
    /// Share of the fleet's events this host logs.
    pub weight: f64,
    /// Installed apps (catalog index, run weight).
    #[serde(skip)]
    pub apps: Vec<(usize, f64)>,
}

/// The fleet: everything `generate` needs to write logs and inventory.
#[derive(Debug, Clone)]
pub struct Fleet {
    pub groups: Vec<Group>,
    pub hosts: Vec<Host>,
    pub users: Vec<User>,
    pub catalog: Vec<AppSpec>,
}

const FIRST: &[&str] = &[
    "anna", "ben", "carla", "david", "emma", "felix", "grace", "hugo", "ines", "jonas", "kara",
    "liam", "mia", "noah", "olga", "paul", "rosa", "sam", "tara", "umar", "vera", "will", "yara",
    "zoe",
];
const LAST: &[&str] = &[
    "smith", "mueller", "garcia", "chen", "okafor", "novak", "rossi", "kim", "dubois", "silva",
    "berg", "khan", "ito", "lopez", "weber", "hansen",
];
const DOMAIN_SID: &str = "S-1-5-21-1004336348-1177238915-682003330";
pub(crate) const DNS_SUFFIX: &str = "corp.example.com";

impl Fleet {
    /// Builds the fleet for `opts` (validated by the caller).
    pub fn new(opts: &Options) -> Result<Fleet, Error> {
        let mut groups = make_groups(opts.groups);
        let tail = (opts.hosts / opts.groups).clamp(4, 40);
        let mut catalog = build_catalog(opts.seed, opts.groups, tail);
        for flip in &opts.enforce {
            let Some(g) = groups.iter().position(|g| g.name == flip.group) else {
                let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
                return Err(Error::InvalidOption(format!(
                    "--enforce: no group {:?} in this fleet (its groups: {})",
                    flip.group,
                    names.join(", ")
                )));
            };
            if groups[g]
                .flips
                .iter()
                .any(|f| f.collection == flip.collection)
            {
                return Err(Error::InvalidOption(format!(
                    "--enforce: {} flips {} twice",
                    flip.group,
                    flip.collection.as_str()
                )));
            }
            let plan = FlipPlan::new(
                &mut catalog,
                &groups[g],
                g,
                flip.collection,
                flip.day,
                opts.days,
            );
            groups[g].flips.push(plan);
        }
        let mut rng = Rng::new(opts.seed, 0xF1EE7);
        let mut users = Vec::new();
        let mut hosts = Vec::new();
        for i in 0..opts.hosts {
            let group = i % opts.groups;
            let number = i / opts.groups + 1;
            hosts.push(make_host(
                opts, &groups, &catalog, &mut rng, &mut users, i, group, number,
            ));
        }
        Ok(Fleet {
            groups,
            hosts,
            users,
            catalog,
        })
    }

    /// The inventory CSV (`computer,group`) as written next to the logs.
    pub fn inventory_csv(&self) -> String {
        let mut out = String::from("computer,group\n");
        for (g, group) in self.groups.iter().enumerate() {
            if group.inventory_style == InventoryStyle::Glob {
                out.push_str(&format!("{}-*,{}\n", group.prefix, group.name));
                continue;
            }
            for host in self.hosts.iter().filter(|h| h.group == g && h.in_inventory) {
                let name = match group.inventory_style {
                    InventoryStyle::AsLogged => host.computer.clone(),
                    _ => host.short_name.clone(),
                };
                out.push_str(&format!("{name},{}\n", group.name));
            }
        }
        out
    }

    /// The Active Directory export of the fleet's accounts, as `Get-ADObject … |
    /// Export-Csv -NoTypeInformation` writes it (see docs/cli.md, `lockstep identities`):
    /// every user in its business group's `GG-<group>` group, those groups in `GG-staff`
    /// (a nested membership). Like any real export taken after the logs, it misses some
    /// accounts (every tenth user has left): their SIDs stay SIDs in the answers.
    pub fn identities_csv(&self) -> String {
        const BASE: &str = "DC=corp,DC=example,DC=com";
        let quoted = |fields: [&str; 6]| {
            let cells: Vec<String> = fields
                .iter()
                .map(|f| format!("\"{}\"", f.replace('"', "\"\"")))
                .collect();
            cells.join(",") + "\n"
        };
        let staff = format!("CN=GG-staff,OU=Groups,{BASE}");
        let group_dn = |g: &Group| format!("CN=GG-{},OU=Groups,{BASE}", g.name);
        let mut out = quoted([
            "DistinguishedName",
            "ObjectClass",
            "SamAccountName",
            "DisplayName",
            "SID",
            "MemberOf",
        ]);
        out += &quoted([
            &staff,
            "group",
            "GG-staff",
            "",
            &format!("{DOMAIN_SID}-5000"),
            "",
        ]);
        for (g, group) in self.groups.iter().enumerate() {
            out += &quoted([
                &group_dn(group),
                "group",
                &format!("GG-{}", group.name),
                "",
                &format!("{DOMAIN_SID}-{}", 5001 + g),
                &staff,
            ]);
        }
        for host in &self.hosts {
            let group = &self.groups[host.group];
            for &u in host.users.iter().filter(|&&u| u % 10 != 3) {
                let user = &self.users[u];
                let display = display_name(&user.name);
                out += &quoted([
                    &format!("CN={display},OU={},OU=Staff,{BASE}", group.name),
                    "user",
                    &user.name,
                    &display,
                    &user.sid,
                    &group_dn(group),
                ]);
            }
        }
        out
    }

    /// The group a report should put `host` in: its group if the inventory lists it,
    /// otherwise `unassigned` (docs/architecture.md "Business groups").
    pub fn expected_group(&self, host: &Host) -> &str {
        if host.in_inventory {
            &self.groups[host.group].name
        } else {
            "unassigned"
        }
    }
}

fn make_groups(count: usize) -> Vec<Group> {
    (0..count)
        .map(|i| {
            let (kind, prefix) = GROUP_KINDS[i % GROUP_KINDS.len()];
            let round = i / GROUP_KINDS.len();
            let (name, prefix) = if round == 0 {
                (kind.to_owned(), prefix.to_owned())
            } else {
                (
                    format!("{kind}-{}", round + 1),
                    format!("{prefix}{}", round + 1),
                )
            };
            // IT operations already enforces EXE and script rules: a mixed deployment.
            let enforced = if kind == "it-ops" {
                vec![Collection::Exe, Collection::Script, Collection::Appx]
            } else {
                Vec::new()
            };
            let inventory_style = match i % 3 {
                0 => InventoryStyle::Glob,
                1 => InventoryStyle::ShortNames,
                _ => InventoryStyle::AsLogged,
            };
            Group {
                name,
                kind,
                prefix,
                enforced,
                flips: Vec::new(),
                inventory_style,
            }
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn make_host(
    opts: &Options,
    groups: &[Group],
    catalog: &[AppSpec],
    rng: &mut Rng,
    users: &mut Vec<User>,
    index: usize,
    group: usize,
    number: usize,
) -> Host {
    let g = &groups[group];
    let laptop = rng.chance(0.4);
    let short_name = format!(
        "{}-{}{:03}",
        g.prefix,
        if laptop { "LT" } else { "WS" },
        number
    );
    let computer = match index % 4 {
        0 => format!("{}.{DNS_SUFFIX}", short_name.to_lowercase()),
        2 => format!("{short_name}.{DNS_SUFFIX}"),
        _ => short_name.clone(),
    };
    let role = match index % 20 {
        7 if opts.hosts >= 8 => HostRole::Silent,
        13 | 18 if opts.hosts >= 14 => HostRole::PolicyOnly,
        _ => HostRole::Normal,
    };
    let payload = match rng.below(10) {
        0 => PayloadShape::NoFullFilePath,
        1 => PayloadShape::NoTargetLogonId,
        2 => PayloadShape::NoLengths,
        _ => PayloadShape::Full,
    };
    let style = HostStyle {
        payload,
        hash_as_text: rng.chance(0.1),
        rule_id_as_text: rng.chance(0.1),
    };
    let mut host_users = vec![new_user(rng, users)];
    if rng.chance(0.3) {
        host_users.push(new_user(rng, users));
    }
    // Hosts in explicitly listed groups are sometimes missing from the inventory, as in
    // any real CMDB; glob-listed groups cover every host.
    let in_inventory = g.inventory_style == InventoryStyle::Glob || index % 12 != 5;
    let forwarded = opts.forwarded > 0
        && stable_hash(&[&opts.seed.to_string(), &short_name]) % 100 < u64::from(opts.wef_coverage);
    let collector = forwarded.then_some(index % opts.forwarded.max(1));
    let weight = if rng.chance(0.1) {
        4.0
    } else {
        0.5 + rng.unit() * 1.5
    };
    let apps = installed_apps(catalog, g, group, opts.seed, &short_name);
    Host {
        short_name,
        computer,
        group,
        role,
        style,
        users: host_users,
        in_inventory,
        collector,
        culture: if rng.chance(0.15) { "de-DE" } else { "en-US" },
        wdac: matches!(g.kind, "engineering" | "it-ops" | "research"),
        weight,
        apps,
    }
}

/// `anna.smith3` → `Anna Smith`.
fn display_name(account: &str) -> String {
    let words = account
        .trim_end_matches(|c: char| c.is_ascii_digit())
        .split('.');
    let capitalised: Vec<String> = words
        .map(|w| {
            let mut chars = w.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_uppercase().chain(chars).collect()
            })
        })
        .collect();
    capitalised.join(" ")
}

/// Adds a user and returns its index.
fn new_user(rng: &mut Rng, users: &mut Vec<User>) -> usize {
    let name = format!("{}.{}{}", rng.pick(FIRST), rng.pick(LAST), users.len() % 7);
    users.push(User {
        name,
        sid: format!("{DOMAIN_SID}-{}", 1104 + users.len()),
    });
    users.len() - 1
}

fn installed_apps(
    catalog: &[AppSpec],
    group: &Group,
    group_index: usize,
    seed: u64,
    host: &str,
) -> Vec<(usize, f64)> {
    catalog
        .iter()
        .enumerate()
        .filter(|(_, app)| runs_in(app, group, group_index))
        .filter(|(_, app)| {
            let roll = stable_hash(&[&seed.to_string(), host, &app_seed(app).to_string()]) % 1000;
            (roll as f64) < app.install_share * 1000.0
        })
        .map(|(i, app)| (i, app.weight))
        .collect()
}
