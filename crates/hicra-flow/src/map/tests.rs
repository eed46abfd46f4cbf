//! [`MapLoop`] on the real runtime, through a stage that doubles numbers.

use serde::Deserialize;

use super::*;
use crate::testing::StageHarness;
use crate::{BuildContext, RunError, Stage, StageConfig};

#[derive(Clone, Debug, PartialEq)]
struct Numbers {
    step: u64,
    eval: bool,
    values: Vec<i64>,
    figures: Figures,
}

#[derive(Clone, Debug, PartialEq)]
struct Record {
    step: u64,
    source: String,
    values: Figures,
}

impl Batch for Numbers {
    const PORT: &'static str = "numbers";
    type Record = Record;

    fn step(&self) -> u64 {
        self.step
    }

    fn is_eval(&self) -> bool {
        self.eval
    }

    fn figures(&self) -> &Figures {
        &self.figures
    }

    fn figures_mut(&mut self) -> &mut Figures {
        &mut self.figures
    }

    fn record(&self, source: &str, values: Figures) -> Record {
        Record {
            step: self.step,
            source: source.into(),
            values,
        }
    }
}

/// `test.double`: doubles every value, writes `doubled` on the batch and returns `sum`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Double {
    /// `never`, `eval` or `each`.
    reporting: String,
    shadow: bool,
    fail_at_step: Option<u64>,
}

impl Double {
    fn reporting(&self) -> Reporting {
        match self.reporting.as_str() {
            "eval" => Reporting::Eval,
            "each" => Reporting::Each,
            _ => Reporting::Never,
        }
    }
}

impl StageConfig for Double {
    const KIND: &'static str = "test.double";
    const SUMMARY: &'static str = "doubles numbers";
    const EXAMPLE: &'static str = "";

    fn ports(&self) -> Ports {
        match self.reporting() {
            Reporting::Never => ports::<Numbers>("numbers", "doubled"),
            _ => ports_with_metrics::<Numbers>("numbers", "doubled", "sums"),
        }
    }

    fn build(self, _ctx: &BuildContext) -> Result<Box<dyn Stage>, BoxError> {
        Ok(Box::new(self))
    }
}

impl Stage for Double {
    fn run(self: Box<Self>, ctx: &mut StageContext) -> StageResult {
        let map = MapLoop::new()
            .reporting(self.reporting())
            .shadow(self.shadow);
        map.run(ctx, |batch: &mut Numbers| {
            if self.fail_at_step == Some(batch.step) {
                return Err(format!("no number at step {}", batch.step).into());
            }
            batch.values.iter_mut().for_each(|v| *v *= 2);
            batch
                .figures
                .insert("doubled".into(), batch.values.len() as f64);
            let sum = batch.values.iter().sum::<i64>() as f64;
            Ok(Figures::from([("sum".to_string(), sum)]))
        })
    }
}

fn numbers(step: u64, eval: bool, values: &[i64]) -> Numbers {
    Numbers {
        step,
        eval,
        values: values.to_vec(),
        figures: Figures::from([("upstream".to_string(), 1.0)]),
    }
}

fn input() -> Vec<Numbers> {
    vec![
        numbers(0, false, &[1, 2]),
        numbers(0, true, &[3]),
        numbers(1, false, &[4]),
    ]
}

fn figures(pairs: &[(&str, f64)]) -> Figures {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[test]
fn every_batch_is_stepped_and_forwarded_in_order_with_its_figures() {
    let mut out = StageHarness::new::<Double>("")
        .input("numbers", input())
        .run()
        .unwrap();
    let sent = out.take::<Numbers>("numbers");
    let values: Vec<&[i64]> = sent.iter().map(|b| b.values.as_slice()).collect();
    assert_eq!(values, [&[2, 4][..], &[6], &[8]]);
    assert_eq!(
        sent[0].figures,
        figures(&[("upstream", 1.0), ("doubled", 2.0), ("sum", 6.0)]),
        "what the batch carried, what the step wrote on it and what it returned"
    );
}

#[test]
fn an_eval_reporter_sends_everything_an_evaluation_batch_carries_and_nothing_else() {
    let mut out = StageHarness::new::<Double>("reporting = \"eval\"")
        .input("numbers", input())
        .run()
        .unwrap();
    assert_eq!(
        out.take::<Record>("metrics"),
        [Record {
            step: 0,
            source: "stage".into(),
            values: figures(&[("upstream", 1.0), ("doubled", 1.0), ("sum", 6.0)]),
        }],
        "training batches reach the learner, which reports their figures"
    );
    assert_eq!(out.take::<Numbers>("numbers").len(), 3);
}

#[test]
fn an_each_reporter_sends_the_figures_of_every_step() {
    let mut out = StageHarness::new::<Double>("reporting = \"each\"")
        .input("numbers", input())
        .run()
        .unwrap();
    let records = out.take::<Record>("metrics");
    let sums: Vec<(u64, Figures)> = records.into_iter().map(|r| (r.step, r.values)).collect();
    assert_eq!(
        sums,
        [
            (0, figures(&[("sum", 6.0)])),
            (0, figures(&[("sum", 6.0)])),
            (1, figures(&[("sum", 8.0)])),
        ]
    );
    let sent = out.take::<Numbers>("numbers");
    assert_eq!(
        sent[2].figures["sum"], 8.0,
        "and forwards them on the batch"
    );
}

#[test]
fn a_shadow_names_its_figures_after_its_id_and_forwards_nothing() {
    let mut out = StageHarness::new::<Double>("reporting = \"each\"\nshadow = true")
        .input("numbers", input())
        .run()
        .unwrap();
    assert!(out.take::<Numbers>("numbers").is_empty());
    let records = out.take::<Record>("metrics");
    assert_eq!(records.len(), 3);
    assert!(
        records
            .iter()
            .all(|r| r.values == figures(&[("stage/sum", r.values["stage/sum"])]))
    );
    assert_eq!(
        MapLoop::new().name("x", figures(&[("a", 1.0)])),
        figures(&[("a", 1.0)])
    );
}

#[test]
fn a_step_error_fails_the_stage_with_its_message() {
    let result = StageHarness::new::<Double>("reporting = \"each\"\nfail_at_step = 1")
        .input("numbers", input())
        .run();
    let Err(RunError::StageFailed { id, source, .. }) = result else {
        panic!("the step's error fails the stage: {result:?}");
    };
    assert_eq!(
        (id.as_str(), source.to_string().as_str()),
        ("stage", "no number at step 1")
    );
}
