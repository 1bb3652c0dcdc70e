//! What an app is (docs/architecture.md "App identity"), in one place: the SQL that groups events into
//! apps, the stable [`app_id`](AppIdentity::app_id) by which people and later commands refer
//! to an app, and the one [`label`](AppIdentity::label) every output prints.
//!
//! - Signed files (an FQBN other than `-`): (collection, publisher, product, binary).
//! - Unsigned files with a hash: (collection, hash).
//! - Neither: (collection, path), per-user profile paths generalised
//!   (`%OSDRIVE%\USERS\*\…`) so an app installed once per user is one app.

use schema::Collection;

/// Per-user profile paths generalised (`%OSDRIVE%\USERS\*\…`), over `file_path`.
pub(crate) const GENERIC_PATH_SQL: &str =
    r"regexp_replace(file_path, '^%OSDRIVE%\\USERS\\[^\\]+\\', '%OSDRIVE%\USERS\*\')";

/// The hash that identifies an unsigned file (signed files have one hash per version).
pub(crate) const APP_HASH_SQL: &str = "CASE WHEN publisher IS NULL THEN file_hash END";

/// [`APP_HASH_SQL`] over the columns of table `t` (where a join makes bare names ambiguous).
pub(crate) fn app_hash_of(t: &str) -> String {
    format!("CASE WHEN {t}.publisher IS NULL THEN {t}.file_hash END")
}

/// The path that identifies a file with neither a signature nor a hash, over a row set
/// that has `app_hash` ([`APP_HASH_SQL`]) and `file_path`.
pub(crate) fn app_path_sql() -> String {
    format!("CASE WHEN publisher IS NULL AND app_hash IS NULL THEN {GENERIC_PATH_SQL} END")
}

/// The columns that make an app, in the order app rows are grouped and sorted by.
pub(crate) const IDENTITY_COLUMNS: &str =
    "collection, publisher, product, binary_name, app_hash, app_path";

/// The policy's rule collection for an app of `collection` (the event table's `EXE` is the
/// policy's `Exe`).
pub fn rule_collection(collection: Collection) -> policy::CollectionKind {
    use policy::CollectionKind as Kind;
    match collection {
        Collection::Appx => Kind::Appx,
        Collection::Dll => Kind::Dll,
        Collection::Exe => Kind::Exe,
        Collection::Msi => Kind::Msi,
        Collection::Script => Kind::Script,
    }
}

/// One app's identity, read back from an app row.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AppIdentity {
    /// A signed file: its publisher (certificate subject), product and binary name.
    Signed {
        collection: Option<Collection>,
        publisher: String,
        product: String,
        binary: String,
    },
    /// An unsigned file, by its SHA-256.
    Unsigned {
        collection: Option<Collection>,
        hash: String,
    },
    /// A file logged with neither a signature nor a hash, by its (generalised) path.
    PathOnly {
        collection: Option<Collection>,
        path: String,
    },
}

impl AppIdentity {
    /// The identity of an app row's grouping columns: `publisher` set means signed, else
    /// `hash`, else `path`.
    pub fn from_parts(
        collection: Option<Collection>,
        publisher: Option<&str>,
        product: Option<&str>,
        binary: Option<&str>,
        hash: Option<&str>,
        path: Option<&str>,
    ) -> AppIdentity {
        match (publisher, hash) {
            (Some(publisher), _) => AppIdentity::Signed {
                collection,
                publisher: publisher.to_owned(),
                product: product.unwrap_or_default().to_owned(),
                binary: binary.unwrap_or_default().to_owned(),
            },
            (None, Some(hash)) => AppIdentity::Unsigned {
                collection,
                hash: hash.to_owned(),
            },
            (None, None) => AppIdentity::PathOnly {
                collection,
                path: path.unwrap_or_default().to_owned(),
            },
        }
    }

    /// A stable id: 16 lower-case hex digits derived from the identity alone, so the same
    /// app has the same id in every store and every run (decisions refer to apps by it).
    pub fn app_id(&self) -> String {
        // Fields joined with a separator no logged value contains (U+001F), each kind
        // tagged, so no two identities share a text.
        let collection = |c: &Option<Collection>| c.map_or("", Collection::as_str);
        let text = match self {
            AppIdentity::Signed {
                collection: c,
                publisher,
                product,
                binary,
            } => format!(
                "signed\u{1f}{}\u{1f}{publisher}\u{1f}{product}\u{1f}{binary}",
                collection(c)
            ),
            AppIdentity::Unsigned {
                collection: c,
                hash,
            } => format!("hash\u{1f}{}\u{1f}{hash}", collection(c)),
            AppIdentity::PathOnly {
                collection: c,
                path,
            } => format!("path\u{1f}{}\u{1f}{path}", collection(c)),
        };
        format!("{:016x}", (policy::ids::fnv1a_128(&text) >> 64) as u64)
    }

    /// What people read: `PUBLISHER / PRODUCT / BINARY` (the publisher's `O=`), `unsigned
    /// FILE.EXE (HASH)`, or `unsigned PATH`. `first_path` names the file of an unsigned app.
    pub fn label(&self, first_path: Option<&str>) -> String {
        match self {
            AppIdentity::Signed {
                publisher,
                product,
                binary,
                ..
            } => format!(
                "{} / {product} / {binary}",
                policy::suggest::short_publisher(publisher)
            ),
            AppIdentity::Unsigned { hash, .. } => {
                let file = first_path
                    .and_then(|p| p.rsplit('\\').next())
                    .unwrap_or_default();
                format!("unsigned {file} ({hash})")
            }
            AppIdentity::PathOnly { path, .. } => format!("unsigned {path}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(binary: &str) -> AppIdentity {
        AppIdentity::from_parts(
            Some(Collection::Exe),
            Some(r#"O="ZOOM VIDEO COMMUNICATIONS, INC.", C=US"#),
            Some("ZOOM"),
            Some(binary),
            Some("ABCD"),
            Some(r"%PROGRAMFILES%\ZOOM\ZOOM.EXE"),
        )
    }

    #[test]
    fn ids_are_stable_and_tell_apps_apart() {
        let zoom = signed("ZOOM.EXE");
        // Pinned: an id must never change between releases (decisions refer to it).
        assert_eq!(zoom.app_id(), "871662f2680914df");
        assert_eq!(zoom.app_id().len(), 16);
        assert_ne!(zoom.app_id(), signed("ZOOMLAUNCHER.EXE").app_id());
        let hash =
            AppIdentity::from_parts(Some(Collection::Exe), None, None, None, Some("AB"), None);
        let path =
            AppIdentity::from_parts(Some(Collection::Exe), None, None, None, None, Some("AB"));
        assert_ne!(hash.app_id(), path.app_id(), "the kind is part of the id");
        let dll =
            AppIdentity::from_parts(Some(Collection::Dll), None, None, None, Some("AB"), None);
        assert_ne!(
            hash.app_id(),
            dll.app_id(),
            "the collection is part of the id"
        );
    }

    #[test]
    fn labels() {
        assert_eq!(
            signed("ZOOM.EXE").label(None),
            "ZOOM VIDEO COMMUNICATIONS, INC. / ZOOM / ZOOM.EXE"
        );
        let unsigned =
            AppIdentity::from_parts(Some(Collection::Exe), None, None, None, Some("0DC5"), None);
        assert_eq!(
            unsigned.label(Some(r"\\FINSRV01\APPS\FINRECON.EXE")),
            "unsigned FINRECON.EXE (0DC5)"
        );
        let path = AppIdentity::from_parts(
            Some(Collection::Script),
            None,
            None,
            None,
            None,
            Some(r"%OSDRIVE%\USERS\*\A.PS1"),
        );
        assert_eq!(path.label(None), r"unsigned %OSDRIVE%\USERS\*\A.PS1");
    }
}
