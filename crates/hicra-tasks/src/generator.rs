//! What the prompt generators (`source.arithmetic`, `source.countdown`, `source.plan_puzzles`)
//! share. A generator is a seeded stream: prompt `index` is a pure function of the stream's
//! seed and the index, so a stream can resume anywhere, and two stages reading one split (a
//! trainer's and an evaluator's) draw the same prompts. The stage around it sends prompt 0,
//! 1, 2, ... on `prompts`, `count` of them (0 = until the pipeline stops).

use hicra_flow::{BoxError, BuildContext, Ports, Stage, StageContext, StageResult, derive_seed};
use hicra_messages::Prompt;

/// The output every generator sends on.
pub const PROMPTS: &str = "prompts";

/// A seeded stream of generated prompts.
pub trait Generator: Send + 'static {
    /// How many prompts the stage emits (0 = endless).
    fn count(&self) -> u64;

    /// Prompt number `index`; an error when the knobs leave no such prompt.
    fn prompt(&self, index: u64) -> Result<Prompt, String>;
}

/// The seed of stream `family/split` (`arithmetic/train`): the run seed's, not the stage's,
/// so that every stage reading the split draws the same prompts.
pub fn stream_seed(ctx: &BuildContext, family: &str, split: &str) -> u64 {
    derive_seed(ctx.run.seed, &format!("{family}/{split}"))
}

/// A generator's ports: its prompts, documented by `doc`.
pub fn ports(doc: &'static str) -> Ports {
    Ports::new().output::<Prompt>(PROMPTS, doc)
}

/// The running stage of `generator`, once its first prompt could be made (knobs that leave no
/// prompt are refused when the pipeline is built, not at its first step).
pub fn build(generator: impl Generator) -> Result<Box<dyn Stage>, BoxError> {
    generator.prompt(0)?;
    Ok(Box::new(Generated(generator)))
}

struct Generated<G>(G);

impl<G: Generator> Stage for Generated<G> {
    fn run(self: Box<Self>, ctx: &mut StageContext) -> StageResult {
        emit_numbered(ctx, self.0.count(), |i| self.0.prompt(i))
    }
}

/// The run loop of a generator stage: sends `make(0)`, `make(1)`, ... on its `prompts` output,
/// `count` of them (0 = until the pipeline stops), stopping at the first error.
pub fn emit_numbered(
    ctx: &mut StageContext,
    count: u64,
    mut make: impl FnMut(u64) -> Result<Prompt, String>,
) -> StageResult {
    let out = ctx.output::<Prompt>(PROMPTS);
    let mut index = 0;
    while count == 0 || index < count {
        out.send(make(index)?)?;
        index += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use hicra_flow::testing::StageHarness;

    use super::*;
    use crate::plan_puzzles::PlanPuzzlesConfig;

    #[test]
    fn a_generator_sends_its_stream_in_order_and_stops_at_count() {
        let mut out = StageHarness::new::<PlanPuzzlesConfig>("count = 3\nsplit = \"eval\"")
            .run()
            .unwrap();
        let prompts = out.take::<Prompt>(PROMPTS);
        let sent: Vec<(&str, u64)> = prompts.iter().map(|p| (p.id.as_str(), p.cursor)).collect();
        assert_eq!(sent, [("eval-0", 0), ("eval-1", 1), ("eval-2", 2)]);
    }
}
