//! The AppLocker policy as data (spec `applocker-policy-xml.md` §1–2).

use std::fmt;

use serde::Serialize;

use crate::version::Version;

/// A whole policy: rule collections plus any policy-level extensions, kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Policy {
    /// `AppLockerPolicy/@Version` (always `1` in practice).
    pub version: String,
    pub collections: Vec<RuleCollection>,
    /// `PolicyExtensions`, kept as found and written back unchanged.
    #[serde(skip)]
    pub extensions: Option<Element>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            version: "1".into(),
            collections: Vec::new(),
            extensions: None,
        }
    }
}

impl Policy {
    /// The collection of `kind`, if the policy has one.
    pub fn collection(&self, kind: CollectionKind) -> Option<&RuleCollection> {
        self.collections.iter().find(|c| c.kind == kind)
    }

    /// The collection of `kind`, created (NotConfigured, no rules) if missing.
    pub fn collection_mut(&mut self, kind: CollectionKind) -> &mut RuleCollection {
        if let Some(i) = self.collections.iter().position(|c| c.kind == kind) {
            return &mut self.collections[i];
        }
        self.collections.push(RuleCollection::new(kind));
        self.collections.sort_by_key(|c| c.kind);
        let i = self
            .collections
            .iter()
            .position(|c| c.kind == kind)
            .expect("just inserted");
        &mut self.collections[i]
    }

    /// Every rule of the policy with its collection.
    pub fn rules(&self) -> impl Iterator<Item = (CollectionKind, &Rule)> {
        self.collections
            .iter()
            .flat_map(|c| c.rules.iter().map(move |r| (c.kind, r)))
    }

    /// Adds the rules and modes of `other` the way `Set-AppLockerPolicy -Merge` does: rules
    /// whose Id already exists are dropped, a collection's mode is taken from `other` when
    /// `other` configures it.
    pub fn merge(&mut self, other: &Policy) {
        for theirs in &other.collections {
            let known: Vec<String> = self
                .rules()
                .map(|(_, r)| r.id.to_ascii_lowercase())
                .collect();
            let ours = self.collection_mut(theirs.kind);
            if theirs
                .mode
                .is_some_and(|m| m != EnforcementMode::NotConfigured)
            {
                ours.mode = theirs.mode;
            }
            for rule in &theirs.rules {
                if !known.contains(&rule.id.to_ascii_lowercase()) {
                    ours.rules.push(rule.clone());
                }
            }
            if ours.extensions.is_none() {
                ours.extensions.clone_from(&theirs.extensions);
            }
        }
    }
}

/// `RuleCollection/@Type`. The order is the one Windows writes (alphabetical).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum CollectionKind {
    Appx,
    Dll,
    Exe,
    ManagedInstaller,
    Msi,
    Script,
}

impl CollectionKind {
    pub const ALL: [CollectionKind; 6] = [
        CollectionKind::Appx,
        CollectionKind::Dll,
        CollectionKind::Exe,
        CollectionKind::ManagedInstaller,
        CollectionKind::Msi,
        CollectionKind::Script,
    ];

    /// The name in policy XML (`Exe`).
    pub fn xml_name(self) -> &'static str {
        match self {
            CollectionKind::Appx => "Appx",
            CollectionKind::Dll => "Dll",
            CollectionKind::Exe => "Exe",
            CollectionKind::ManagedInstaller => "ManagedInstaller",
            CollectionKind::Msi => "Msi",
            CollectionKind::Script => "Script",
        }
    }

    /// The collection named by an event's `PolicyName` (`EXE`, `DLL`, `MSI`, `SCRIPT`, `APPX`)
    /// or by policy XML (`Exe`), case-insensitively.
    pub fn parse(name: &str) -> Option<CollectionKind> {
        CollectionKind::ALL
            .into_iter()
            .find(|k| k.xml_name().eq_ignore_ascii_case(name))
    }

    /// The name events and the event table use (`EXE`).
    pub fn event_name(self) -> String {
        self.xml_name().to_ascii_uppercase()
    }
}

impl fmt::Display for CollectionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, so `{:<6}` lines up tables.
        f.pad(self.xml_name())
    }
}

/// `RuleCollection/@EnforcementMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum EnforcementMode {
    NotConfigured,
    AuditOnly,
    Enabled,
}

impl EnforcementMode {
    pub fn xml_name(self) -> &'static str {
        match self {
            EnforcementMode::NotConfigured => "NotConfigured",
            EnforcementMode::AuditOnly => "AuditOnly",
            EnforcementMode::Enabled => "Enabled",
        }
    }
}

/// One `RuleCollection`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleCollection {
    pub kind: CollectionKind,
    /// `None` when the attribute is absent (which means NotConfigured).
    pub mode: Option<EnforcementMode>,
    pub rules: Vec<Rule>,
    /// `RuleCollectionExtensions`, kept as found and written back unchanged.
    #[serde(skip)]
    pub extensions: Option<Element>,
}

impl RuleCollection {
    pub fn new(kind: CollectionKind) -> Self {
        RuleCollection {
            kind,
            mode: None,
            rules: Vec::new(),
            extensions: None,
        }
    }

    /// Whether the rules are enforced: `Enabled`, or NotConfigured with rules (spec §1).
    pub fn is_enforced(&self) -> bool {
        match self.mode.unwrap_or(EnforcementMode::NotConfigured) {
            EnforcementMode::Enabled => true,
            EnforcementMode::AuditOnly => false,
            EnforcementMode::NotConfigured => !self.rules.is_empty(),
        }
    }
}

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Action {
    Allow,
    Deny,
}

/// One rule; its element name follows from its condition's kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rule {
    pub id: String,
    pub name: String,
    pub description: String,
    pub user_or_group_sid: String,
    pub action: Action,
    pub condition: Condition,
    /// Not allowed on hash rules by the schema.
    pub exceptions: Vec<Condition>,
}

impl Rule {
    /// `FilePublisherRule`, `FilePathRule` or `FileHashRule`.
    pub fn element_name(&self) -> &'static str {
        match self.condition {
            Condition::Publisher(_) => "FilePublisherRule",
            Condition::Path(_) => "FilePathRule",
            Condition::Hash(_) => "FileHashRule",
        }
    }
}

/// A condition (of a rule or an exception).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Condition {
    Publisher(PublisherCondition),
    Path(PathCondition),
    Hash(HashCondition),
}

/// `FilePublisherCondition` with its `BinaryVersionRange`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PublisherCondition {
    pub publisher_name: String,
    pub product_name: String,
    pub binary_name: String,
    /// `None` = `*` (open end).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub low: Option<Version>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub high: Option<Version>,
}

/// `FilePathCondition`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PathCondition {
    pub path: String,
}

/// `FileHashCondition`: matches when any of its hashes does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HashCondition {
    pub hashes: Vec<FileHash>,
}

/// One `FileHash`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FileHash {
    /// `SHA256` (AppLocker's hash), `SHA256Flat` or `SHA1`.
    pub kind: String,
    /// As written (`0x…`).
    pub data: String,
    pub source_file_name: Option<String>,
    pub source_file_length: Option<String>,
}

impl FileHash {
    /// Whether `hex` is what a SHA256 `Data` holds after its `0x`: 64 hex digits (events
    /// log AppLocker's hash so; anything else cannot become a rule Windows accepts).
    pub fn is_sha256_hex(hex: &str) -> bool {
        hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())
    }

    /// The hash as events log it: upper-case hex without `0x`.
    pub fn normalized(&self) -> String {
        let data = self.data.trim();
        let hex = data
            .strip_prefix("0x")
            .or_else(|| data.strip_prefix("0X"))
            .unwrap_or(data);
        hex.to_ascii_uppercase()
    }
}

/// An XML element kept verbatim (extensions lockstep does not interpret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub attributes: Vec<(String, String)>,
    pub children: Vec<Element>,
    pub text: String,
}
