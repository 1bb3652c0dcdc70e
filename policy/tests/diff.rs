//! Policy diffs on the real policies of `shared/real-policies/`: a policy against its own
//! rewritten, reordered, re-identified copy is no change; each kind of edit is found as
//! exactly that edit.

use policy::diff::{content_hash, diff};
use policy::read::read_file;
use policy::{Condition, Version};

#[test]
fn real_policies_against_edited_copies() {
    let files = testkit::fixtures_in("real-policies", "xml");
    let mut widened = 0;
    for path in &files {
        let original = read_file(path).unwrap().policy;
        let name = path.display();

        // Written out, read back, rules reversed, new Ids and names: the same policy.
        let mut same = policy::read::parse(policy::write::to_xml(&original).as_bytes())
            .unwrap()
            .policy;
        for (n, c) in same.collections.iter_mut().enumerate() {
            c.rules.reverse();
            for (m, r) in c.rules.iter_mut().enumerate() {
                r.id = format!("00000000-0000-4000-8000-{:06}{m:06}", n);
                r.name = format!("renamed {m}");
            }
        }
        assert!(
            diff(&original, &same).is_empty(),
            "{name}: {:#?}",
            diff(&original, &same)
        );
        assert_eq!(content_hash(&original), content_hash(&same), "{name}");

        // One rule dropped: removed, nothing else.
        let mut fewer = original.clone();
        let c = fewer
            .collections
            .iter_mut()
            .find(|c| !c.rules.is_empty())
            .unwrap();
        let dropped = c.rules.remove(0);
        let d = diff(&original, &fewer);
        let duplicates = original
            .rules()
            .filter(|(_, r)| {
                r.condition == dropped.condition
                    && r.action == dropped.action
                    && r.user_or_group_sid == dropped.user_or_group_sid
                    && r.exceptions == dropped.exceptions
            })
            .count();
        if duplicates == 1 {
            assert_eq!(
                (d.removed.len(), d.added.len(), d.changed.len()),
                (1, 0, 0),
                "{name}: {d:#?}"
            );
            assert_eq!(d.removed[0].name, dropped.name);
        }
        assert_ne!(content_hash(&original), content_hash(&fewer), "{name}");

        // A publisher rule's range widened: changed, with the range named.
        let mut wider = original.clone();
        let widened_here = wider
            .collections
            .iter_mut()
            .flat_map(|c| c.rules.iter_mut())
            .find_map(|r| match &mut r.condition {
                Condition::Publisher(p) if p.high != Some(Version([99, 0, 0, 0])) => {
                    p.high = Some(Version([99, 0, 0, 0]));
                    Some(())
                }
                _ => None,
            });
        if widened_here.is_some() {
            let d = diff(&original, &wider);
            assert_eq!(d.changed.len(), 1, "{name}: {d:#?}");
            assert!((d.added.len(), d.removed.len()) == (0, 0), "{name}: {d:#?}");
            assert!(
                d.changed[0].details[0].starts_with("version range"),
                "{name}: {d:#?}"
            );
            assert!(
                d.changed[0].details[0].ends_with("–99.0.0.0"),
                "{name}: {d:#?}"
            );
            widened += 1;
        }
    }
    assert!(widened >= 3, "{widened} policies with publisher rules");
}
