//! The documentation's relative links lead somewhere: every `[text](path)` and `[text](#anchor)`
//! in the README, ARCHITECTURE.md, CONTRIBUTING.md, `docs/` and the fixtures' README names a
//! file of the repository, and an anchor names a heading of its page (as GitHub makes them).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn pages() -> Vec<PathBuf> {
    let mut pages: Vec<PathBuf> = [
        "README.md",
        "ARCHITECTURE.md",
        "CONTRIBUTING.md",
        "tests/fixtures/README.md",
    ]
    .iter()
    .map(|p| root().join(p))
    .collect();
    let mut folders = vec![root().join("docs")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("docs/ is readable").flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                pages.push(path);
            }
        }
    }
    pages
}

/// The page's lines outside fenced code blocks.
fn prose(text: &str) -> Vec<&str> {
    let mut fenced = false;
    text.lines()
        .filter(|line| {
            if line.trim_start().starts_with("```") {
                fenced = !fenced;
                return false;
            }
            !fenced
        })
        .collect()
}

/// GitHub's anchor of a heading: lower case, punctuation other than `-` and `_` dropped,
/// spaces as `-`; a repeated heading gets `-1`, `-2`, ...
fn anchors(text: &str) -> HashSet<String> {
    let mut seen = HashSet::new();
    for line in prose(text) {
        let Some(title) = line.strip_prefix('#').map(|rest| rest.trim_start_matches('#')) else {
            continue;
        };
        if !title.starts_with(' ') {
            continue;
        }
        let slug: String = title
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let mut unique = slug.clone();
        let mut n = 0;
        while !seen.insert(unique.clone()) {
            n += 1;
            unique = format!("{slug}-{n}");
        }
    }
    seen
}

/// Every link target of the page's prose that is not a URL.
fn relative_links(text: &str) -> Vec<String> {
    let mut links = Vec::new();
    // Links may wrap across lines; join the prose into one string.
    let joined = prose(text).join("\n");
    let mut rest = joined.as_str();
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        let Some(end) = rest.find(')') else { break };
        let target = rest[..end].trim();
        let external = ["http://", "https://", "mailto:"].iter().any(|s| target.starts_with(s));
        if !external && !target.is_empty() && !target.contains(' ') {
            links.push(target.to_owned());
        }
        rest = &rest[end..];
    }
    links
}

fn check(page: &Path, link: &str) -> Result<(), String> {
    let (path, anchor) = link.split_once('#').map_or((link, None), |(p, a)| (p, Some(a)));
    let target = if path.is_empty() {
        page.to_path_buf()
    } else {
        page.parent().expect("a page is in a folder").join(path)
    };
    if !target.exists() {
        return Err(format!("{link}: no such file"));
    }
    if let Some(anchor) = anchor {
        let text = std::fs::read_to_string(&target).map_err(|e| format!("{link}: {e}"))?;
        if !anchors(&text).contains(anchor) {
            return Err(format!("{link}: no heading with this anchor"));
        }
    }
    Ok(())
}

#[test]
fn every_relative_link_and_anchor_of_the_docs_resolves() {
    let mut dead = Vec::new();
    let mut checked = 0;
    for page in pages() {
        let text = std::fs::read_to_string(&page).expect("a page is readable");
        for link in relative_links(&text) {
            checked += 1;
            if let Err(why) = check(&page, &link) {
                dead.push(format!(
                    "{}: {why}",
                    page.strip_prefix(root()).unwrap_or(&page).display()
                ));
            }
        }
    }
    assert!(
        checked > 20,
        "only {checked} links found: is the parser reading the pages?"
    );
    assert!(dead.is_empty(), "dead links:\n{}", dead.join("\n"));
}

#[test]
fn anchors_follow_github() {
    let text = "# API\n## OpenAI (`/v1/embeddings`)\n```\n# not a heading\n```\n## API\n";
    let found = anchors(text);
    for expected in ["api", "openai-v1embeddings", "api-1"] {
        assert!(found.contains(expected), "{expected} in {found:?}");
    }
    assert!(!found.contains("not-a-heading"));
    assert_eq!(
        relative_links("[a](docs/x.md#y) [b](https://e.com)\n```\n[d](w)\n```"),
        ["docs/x.md#y"]
    );
}
