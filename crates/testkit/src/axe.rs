//! The automated accessibility check of the browser tests: axe-core (npm, pinned in `crates/testkit/axe/`,
//! installed by `scripts/install-test-deps.sh`) injected into the page a [`Chromium`] shows, through WebDriver
//! (not subject to the page's Content-Security-Policy), and run against WCAG 2.x A and AA.
//!
//! ```no_run
//! # async fn f(browser: &keyport_testkit::chromium::Chromium) {
//! let violations = keyport_testkit::axe::check(browser).await;
//! assert!(keyport_testkit::axe::serious(&violations).is_empty());
//! # }
//! ```

use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::Value;

use crate::chromium::Chromium;

/// One rule the page breaks, with the elements that break it.
#[derive(Debug, Clone)]
pub struct Violation {
    pub id: String,
    /// `minor`, `moderate`, `serious` or `critical`.
    pub impact: String,
    pub help: String,
    /// CSS selectors of the offending elements.
    pub targets: Vec<String>,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "[{}] {}: {} at {}",
            self.impact,
            self.id,
            self.help,
            self.targets.join(", ")
        )
    }
}

/// `axe.min.js`, read once. Panics saying what to run when it is missing.
fn source() -> &'static str {
    static SOURCE: OnceLock<String> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("axe/node_modules/axe-core/axe.min.js");
        std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "cannot read {} ({e}): run scripts/install-test-deps.sh (npm ci in crates/testkit/axe)",
                path.display()
            )
        })
    })
}

/// Runs axe-core on the page shown now; every violation of WCAG 2.0/2.1/2.2 A and AA rules (and axe's best
/// practices).
pub async fn check(browser: &Chromium) -> Vec<Violation> {
    browser.wait_until_loaded().await;
    let client = browser.client();
    client
        .execute(source(), vec![])
        .await
        .expect("inject axe-core");
    let script = r#"
        const done = arguments[arguments.length - 1];
        axe.run(document, {
            runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'] },
            resultTypes: ['violations'],
        }).then(r => done(r.violations), e => done({ error: String(e) }));
    "#;
    let result = client
        .execute_async(script, vec![])
        .await
        .expect("run axe-core");
    if let Some(e) = result.get("error") {
        panic!("axe-core failed: {e}");
    }
    result
        .as_array()
        .expect("axe violations")
        .iter()
        .map(|v| Violation {
            id: text(v, "id"),
            impact: text(v, "impact"),
            help: text(v, "help"),
            targets: v["nodes"]
                .as_array()
                .map(|nodes| nodes.iter().map(|n| n["target"].to_string()).collect())
                .unwrap_or_default(),
        })
        .collect()
}

fn text(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_owned()
}

/// The violations whose impact is `serious` or `critical`.
pub fn serious(violations: &[Violation]) -> Vec<&Violation> {
    violations
        .iter()
        .filter(|v| v.impact == "serious" || v.impact == "critical")
        .collect()
}
