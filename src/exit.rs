//! What a command that worked tells cron beyond "done": the exit statuses with a meaning.
//! 0 done, 1 failure, 2 usage error (clap), and these.

/// `status`: some job-day in the range is stale (run `stickerlake run all --stale`).
pub const EXIT_STALE: u8 = 3;
/// `audit`: the warehouse and the source files disagree (gaps, doubles, mismatches, gone).
pub const EXIT_AUDIT_FAULTS: u8 = 4;
/// `eval`: a model failed a `--gate` or `--max-regression` (nothing is to be published).
pub const EXIT_GATE: u8 = 5;
/// `check`, `validate`, `run --require-checks`: a check failed, or events broke the
/// tracking plan.
pub const EXIT_CHECKS_FAILED: u8 = 6;
/// "Try again later" (EX_TEMPFAIL): a day asked for is not complete yet.
pub const EXIT_INCOMPLETE: u8 = 75;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done,
    Stale,
    Incomplete,
    Faults,
    GateFailed,
    ChecksFailed,
}

impl Outcome {
    pub fn code(self) -> u8 {
        match self {
            Outcome::Done => 0,
            Outcome::Stale => EXIT_STALE,
            Outcome::Incomplete => EXIT_INCOMPLETE,
            Outcome::Faults => EXIT_AUDIT_FAULTS,
            Outcome::GateFailed => EXIT_GATE,
            Outcome::ChecksFailed => EXIT_CHECKS_FAILED,
        }
    }
}
