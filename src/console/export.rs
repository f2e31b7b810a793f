//! `bridgekeeper enrolled --export`: the enrolments in the store, as participants-file
//! entries an operator can paste under each conference to make them permanent.

use crate::cli::EnrolledArgs;
use crate::clock::SystemClock;
use crate::directory::Directory;
use crate::store::{MemoryStore, RedisStore, Store, StoreError};
use anyhow::Context;
use std::sync::Arc;
use std::time::Duration;

/// The enrolments of every conference of `directory`, as TOML: per conference a comment
/// naming it, then its `[[conference.participant]]` entries (people already listed in the
/// file are left out).
pub async fn export(store: &dyn Store, directory: &Directory) -> Result<String, StoreError> {
    let mut out = String::new();
    for conference in directory.conferences() {
        let enrolled = super::enrolment::list(store, conference.name()).await?;
        let entries: Vec<_> = enrolled
            .iter()
            .filter(|(_, e)| {
                e.phone()
                    .is_some_and(|p| conference.participant(&p).is_none())
            })
            .collect();
        if entries.is_empty() {
            continue;
        }
        out.push_str(&format!(
            "# Enrolled in {} (paste under its [[conference]] table)\n",
            toml::Value::String(conference.name().to_owned())
        ));
        for (_, e) in entries {
            out.push_str(&e.to_toml());
            out.push('\n');
        }
    }
    Ok(out)
}

/// Runs the subcommand: opens the store the server uses and exports.
pub async fn run(args: &EnrolledArgs) -> anyhow::Result<String> {
    let directory = Directory::load(&args.file)?;
    let store: Arc<dyn Store> = match args.redis_url.as_deref().filter(|u| !u.trim().is_empty()) {
        Some(url) => Arc::new(
            RedisStore::connect(url, &args.redis_prefix, Duration::from_secs(5))
                .await
                .context("cannot use Redis (check --redis-url)")?,
        ),
        None => {
            let path = args.state_file.as_ref().context(
                "say where the enrolments are: --redis-url, or --state-file for the in-memory \
                 store's state file",
            )?;
            let memory = MemoryStore::new(Arc::new(SystemClock));
            memory
                .restore(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Arc::new(memory)
        }
    };
    Ok(export(store.as_ref(), &directory).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::console::enrolment::{self, Enrolled};
    use crate::roster::Roster;

    const TOML: &str = r#"
[[conference]]
name = "Weekly"
numbers = ["+12025550100"]
[[conference.participant]]
name = "Ada"
phone = "+12025550101"
role = "moderator"
"#;

    #[tokio::test]
    async fn enrolments_export_as_entries_that_parse_under_their_conference() {
        let directory = Directory::parse(TOML, "t.toml").unwrap();
        let roster = Roster::new(directory.clone(), [1; 32]);
        let store = MemoryStore::new(Arc::new(ManualClock::default()));
        let mary = Enrolled {
            name: "Mary".into(),
            phone: "+12025550177".into(),
            channel: "sms".into(),
            enrolled_at: 5,
        };
        enrolment::add(&store, &roster, "Weekly", &mary)
            .await
            .unwrap();
        let text = export(&store, &directory).await.unwrap();
        assert!(text.starts_with("# Enrolled in \"Weekly\""), "{text}");
        let whole = format!("{TOML}{text}");
        let parsed = Directory::parse(&whole, "t.toml").expect("the export pastes in");
        assert_eq!(parsed.conferences()[0].participants().len(), 2);
    }
}
