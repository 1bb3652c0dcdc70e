//! Four-part file versions, compared as numbers (events print `2.35.5.01`).

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// `a.b.c.d`; ordering is numeric, component by component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Version(pub [u32; 4]);

impl FromStr for Version {
    type Err = String;

    /// Accepts one to four dot-separated numbers (missing parts are 0), as events and
    /// policies write them; leading zeros are fine (`2.35.5.01`).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let mut parts = [0u32; 4];
        for (count, part) in text.split('.').enumerate() {
            if count == 4 || part.is_empty() || part.len() > 10 {
                return Err(format!("{text:?} is not a version (a.b.c.d)"));
            }
            parts[count] = part
                .parse()
                .map_err(|_| format!("{text:?} is not a version (a.b.c.d)"))?;
        }
        Ok(Version(parts))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d] = self.0;
        write!(f, "{a}.{b}.{c}.{d}")
    }
}

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_order_not_text_order() {
        let v = |s: &str| s.parse::<Version>().unwrap();
        assert!(v("2.9.0.0") < v("2.10.0.0"));
        assert_eq!(v("2.35.5.01"), v("2.35.5.1"));
        assert_eq!(v("10.0").to_string(), "10.0.0.0");
        assert!("1.2.3.4.5".parse::<Version>().is_err());
        assert!("1..2".parse::<Version>().is_err());
        assert!("*".parse::<Version>().is_err());
    }
}
