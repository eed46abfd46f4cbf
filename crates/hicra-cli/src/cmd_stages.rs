//! `hicra stages`: every registered kind, its summary and its TOML example.

use clap::Args;
use hicra_flow::Registry;

#[derive(Args, Debug)]
pub struct StagesArgs {
    /// Show only this kind (or this family, e.g. `credit`).
    filter: Option<String>,
}

pub fn run(registry: &Registry, args: StagesArgs) -> miette::Result<()> {
    let wanted = |kind: &str| match &args.filter {
        None => true,
        Some(f) => kind == f || kind.split('.').next() == Some(f.as_str()),
    };
    let kinds: Vec<_> = registry.kinds().filter(|k| wanted(k.kind)).collect();
    if kinds.is_empty() {
        let known: Vec<_> = registry.kinds().map(|k| k.kind).collect();
        miette::bail!("no stage kind matches; known kinds: {}", known.join(", "));
    }
    for info in kinds {
        println!(
            "# {}: {}\n{}",
            info.kind,
            info.summary,
            info.example.trim_end()
        );
        println!();
    }
    Ok(())
}
