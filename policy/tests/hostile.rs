//! Hostile and clumsy policy documents: each is refused with a message that says what is
//! wrong, or read, in time linear in its size (the sizes here took minutes to hours when
//! parsing was quadratic; `cargo bench -p policy --bench hostile` prints the N vs 4N time
//! ratio). And byte mutations of every real policy: no panic, every error names its file.

use policy::limits::{MAX_ATTRIBUTES, MAX_CHILDREN, MAX_RULE_TEXT_CHARS, MAX_WARNINGS};
use policy::read::{self, parse};
use testkit::mutate::{DEEP_CASES, Mutator, cases};

const EXE_OPEN: &str =
    r#"<AppLockerPolicy Version="1"><RuleCollection Type="Exe" EnforcementMode="Enabled">"#;
const EXE_CLOSE: &str = "</RuleCollection></AppLockerPolicy>";

fn rule(name: &str, description: &str) -> String {
    format!(
        r#"<FilePathRule Id="921cc481-6e17-4653-8f75-050b80acca20" Name="{name}" Description="{description}" UserOrGroupSid="S-1-1-0" Action="Allow"><Conditions><FilePathCondition Path="*" /></Conditions></FilePathRule>"#
    )
}

fn hash_rule(data: &str, length: &str) -> String {
    format!(
        r#"{EXE_OPEN}<FileHashRule Id="921cc481-6e17-4653-8f75-050b80acca21" Name="h" Description="" UserOrGroupSid="S-1-1-0" Action="Allow"><Conditions><FileHashCondition><FileHash Type="SHA256" Data="{data}" SourceFileName="x.exe" SourceFileLength="{length}" /></FileHashCondition></Conditions></FileHashRule>{EXE_CLOSE}"#
    )
}

fn error_of(text: impl AsRef<[u8]>) -> String {
    parse(text.as_ref()).unwrap_err().to_string()
}

#[test]
fn many_unknown_siblings_are_read_with_a_bounded_list_of_warnings() {
    // The probe's document: 100,000 unknown siblings took 35 s (a line lookup per warning).
    let text = format!("{EXE_OPEN}{}{EXE_CLOSE}", "<X/>\n".repeat(MAX_CHILDREN));
    let parsed = parse(text.as_bytes()).unwrap();
    assert_eq!(parsed.warnings.len(), MAX_WARNINGS + 1);
    assert_eq!(parsed.warnings[0], "line 1: unknown element <X> skipped");
    assert_eq!(
        parsed.warnings[MAX_WARNINGS - 1],
        "line 100: unknown element <X> skipped"
    );
    assert_eq!(
        parsed.warnings[MAX_WARNINGS],
        format!("… and {} more warnings", MAX_CHILDREN - MAX_WARNINGS)
    );
    // One more sibling is refused, naming the line it is on.
    let text = format!("{EXE_OPEN}{}{EXE_CLOSE}", "<X/>\n".repeat(MAX_CHILDREN + 1));
    assert_eq!(
        error_of(text),
        "line 100001: an element with more than 100000 child elements"
    );
}

#[test]
fn nearly_two_million_nodes_under_every_limit_are_read() {
    // 19 unknown elements of 99,999 children each: 1.9 M nodes ran for hours.
    let wide = format!("<X>{}</X>", "<Y/>".repeat(99_999)).repeat(19);
    let text = format!(r#"<AppLockerPolicy Version="1">{wide}</AppLockerPolicy>"#);
    let parsed = parse(text.as_bytes()).unwrap();
    assert_eq!(
        parsed.warnings.len(),
        19,
        "one warning per skipped outer element"
    );
}

#[test]
fn attributes_per_element_are_bounded() {
    let attributes = |n: usize| (0..n).map(|i| format!(" a{i}=\"v\"")).collect::<String>();
    // 64 attributes are read (the unknown ones are ignored) ...
    let text = format!(
        r#"{EXE_OPEN}<X{} />{EXE_CLOSE}"#,
        attributes(MAX_ATTRIBUTES)
    );
    parse(text.as_bytes()).unwrap();
    // ... 65 are refused before the parser compares each with the others (100,000 took 24 s).
    for n in [MAX_ATTRIBUTES + 1, 100_000] {
        let text = format!("{EXE_OPEN}\n<X{} />{EXE_CLOSE}", attributes(n));
        assert_eq!(
            error_of(text),
            format!("line 2: an element with {n} attributes, more than the 64 lockstep reads")
        );
    }
}

#[test]
fn rule_names_and_descriptions_longer_than_the_schema_allows_are_refused() {
    let longest = "n".repeat(MAX_RULE_TEXT_CHARS);
    parse(format!("{EXE_OPEN}{}{EXE_CLOSE}", rule(&longest, &longest)).as_bytes()).unwrap();
    // Characters, not bytes: 1,024 two-byte characters are allowed.
    let wide = "é".repeat(MAX_RULE_TEXT_CHARS);
    parse(format!("{EXE_OPEN}{}{EXE_CLOSE}", rule(&wide, "")).as_bytes()).unwrap();

    let long = "n".repeat(MAX_RULE_TEXT_CHARS + 1);
    assert_eq!(
        error_of(format!("{EXE_OPEN}{}{EXE_CLOSE}", rule(&long, ""))),
        "line 1: the rule's Name is 1025 characters, more than the 1024 AppLocker allows"
    );
    assert!(
        error_of(format!("{EXE_OPEN}{}{EXE_CLOSE}", rule("n", &long)))
            .contains("the rule's Description is 1025 characters")
    );
    // The probe's 1 MB name (it took the server to 2.68 GB) is refused as too long a value.
    let huge = "n".repeat(1 << 20);
    assert!(
        error_of(format!("{EXE_OPEN}{}{EXE_CLOSE}", rule(&huge, "")))
            .contains("an attribute value of 1048576 bytes")
    );
}

#[test]
fn deep_nesting_is_refused() {
    let deep = format!(
        r#"<AppLockerPolicy Version="1">{}{}</AppLockerPolicy>"#,
        "<a>".repeat(100_000),
        "</a>".repeat(100_000)
    );
    assert!(error_of(deep).contains("nested deeper than 64 levels"));
}

#[test]
fn encodings_that_do_not_match_their_byte_order_mark_say_so() {
    let policy = format!("{EXE_OPEN}{}{EXE_CLOSE}", rule("n", ""));
    let utf16: Vec<u8> = policy.encode_utf16().flat_map(u16::to_le_bytes).collect();

    let utf8_mark_on_utf16 = [&[0xEF, 0xBB, 0xBF][..], &utf16].concat();
    assert!(
        error_of(&utf8_mark_on_utf16).starts_with("a UTF-8 byte order mark before UTF-16 text"),
        "{}",
        error_of(&utf8_mark_on_utf16)
    );
    let utf16_mark_on_utf8 = [&[0xFF, 0xFE][..], policy.as_bytes()].concat();
    assert!(
        error_of(&utf16_mark_on_utf8).starts_with("a UTF-16 byte order mark before UTF-8 text")
    );
    // The right marks read.
    parse(&[&[0xFF, 0xFE][..], &utf16].concat()).unwrap();
    parse(&[&[0xEF, 0xBB, 0xBF][..], policy.as_bytes()].concat()).unwrap();
    assert_eq!(
        error_of([&[0xFF, 0xFE][..], &utf16[..utf16.len() - 1]].concat()),
        "UTF-16 text with an odd number of bytes"
    );
    assert!(error_of(b"<A>\xE9</A>").contains("neither UTF-8 nor UTF-16"));
}

#[test]
fn a_registry_pol_given_as_xml_is_named() {
    let policy = parse(format!("{EXE_OPEN}{}{EXE_CLOSE}", rule("n", "")).as_bytes())
        .unwrap()
        .policy;
    let pol = policy::gpo::to_registry_pol(&policy);
    assert!(
        error_of(&pol).starts_with("a binary registry.pol (PReg) file, not policy XML"),
        "{}",
        error_of(&pol)
    );
}

#[test]
fn hash_conditions_are_checked() {
    let good = format!("0x{}", "AB".repeat(32));
    parse(hash_rule(&good, "1024").as_bytes()).unwrap();
    for bad in ["0xZZZZ", "ABAB", "0x", &format!("0x{}", "AB".repeat(31))] {
        let message = error_of(hash_rule(bad, "1024"));
        assert!(
            message.contains("is not 0x and 64 hex digits (a SHA256 hash)"),
            "{bad}: {message}"
        );
    }
    let parsed = parse(hash_rule(&good, "-5").as_bytes()).unwrap();
    assert_eq!(
        parsed.warnings,
        ["line 1: FileHash SourceFileLength \"-5\" is not a byte count; kept as written"]
    );
    let other_type = hash_rule(&good, "1").replace("Type=\"SHA256\"", "Type=\"MD5\"");
    assert!(error_of(other_type).contains("FileHash Type \"MD5\" is not SHA256"));
}

/// Byte mutations of every real policy and the repository's own: parsing never panics,
/// and every error names the file it read.
fn mutated_policies_never_panic(cases_per_file: usize) {
    let mut files = testkit::fixtures_in("real-policies", "xml");
    files.push(testkit::repo().join("policy/tests/fixtures/table-policy.xml"));
    let dir = tempfile::tempdir().unwrap();
    let mut errors = 0;
    for (n, original) in files.iter().enumerate() {
        let bytes = std::fs::read(original).unwrap();
        let seed = 0x5EED_0000 + n as u64;
        let mut mutator = Mutator::new(seed);
        for case in 0..cases_per_file {
            let mutated = mutator.mutate(&bytes);
            let path = dir.path().join(format!("case-{n}-{case}.xml"));
            std::fs::write(&path, &mutated).unwrap();
            let outcome = std::panic::catch_unwind(|| read::read_file(&path));
            let Ok(result) = outcome else {
                panic!(
                    "{} mutated (seed {seed:#x}, case {case}) panicked; kept at {}",
                    original.display(),
                    path.display()
                );
            };
            if let Err(e) = result {
                errors += 1;
                let message = e.to_string();
                assert!(
                    message.contains(&path.display().to_string()),
                    "the error does not name its file: {message}"
                );
            }
            std::fs::remove_file(&path).unwrap();
        }
    }
    assert!(errors > 0, "some mutations must be refused");
}

#[test]
fn mutated_policies_are_refused_or_read_without_panics() {
    mutated_policies_never_panic(cases(300));
}

#[test]
#[ignore = "deep run: cargo test -p policy --test hostile -- --ignored"]
fn mutated_policies_deep() {
    mutated_policies_never_panic(DEEP_CASES);
}
