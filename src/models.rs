//! `watershed models score`: a data scientist tries a model before an alert rule uses it, with the
//! runtime and the load checks the rules get. Windows come on stdin as NDJSON arrays of numbers,
//! oldest reading first; one score per line goes to stdout. The first bad line stops it, named.

use std::io::{self, BufRead, BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use watershed_domain::{ModelRuntime, OnnxModel, Scorer};
use watershed_infra::TractRuntime;

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Score the windows read from stdin (one JSON array of numbers per line, oldest reading
    /// first) and print one score per line.
    Score(ScoreArgs),
}

#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// The ONNX model: one float input of shape [1, N]; its first output's first element is the
    /// score.
    #[arg(long)]
    pub model: PathBuf,
    /// N, the readings in a window.
    #[arg(long)]
    pub inputs: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    /// A line that is no window of the model's length, or one the model failed on.
    #[error("line {line}: {reason}")]
    Line { line: usize, reason: String },
    #[error("reading the windows from stdin")]
    Read(#[source] io::Error),
    #[error("writing the scores to stdout")]
    Write(#[source] io::Error),
}

pub fn run(command: ModelsCommand) -> anyhow::Result<()> {
    match command {
        ModelsCommand::Score(args) => {
            let shown = args.model.display();
            let bytes = std::fs::read(&args.model).with_context(|| format!("reading {shown}"))?;
            let model = OnnxModel::from_bytes(bytes).with_context(|| format!("model {shown}"))?;
            let scorer = TractRuntime
                .load(&model, args.inputs)
                .with_context(|| format!("loading {shown} for windows of {}", args.inputs))?;
            let scored = score_lines(scorer.as_ref(), io::stdin().lock(), io::stdout().lock())?;
            // The digest is how rules and logs name the model.
            eprintln!(
                "models: {scored} windows scored by {shown} (sha256 {})",
                model.sha256_hex()
            );
            Ok(())
        }
    }
}

/// Scores each line of `windows` onto its own line of `scores`, up to the first bad line; what
/// was scored before it is written out all the same. Returns how many windows were scored.
pub fn score_lines(
    scorer: &dyn Scorer,
    windows: impl BufRead,
    scores: impl Write,
) -> Result<usize, ScoreError> {
    let mut scores = BufWriter::new(scores);
    let mut scored = 0;
    let outcome = windows.lines().enumerate().try_for_each(|(index, text)| {
        let bad = |reason: String| ScoreError::Line {
            line: index + 1,
            reason,
        };
        let text = text.map_err(ScoreError::Read)?;
        let window = window(&text).map_err(bad)?;
        let score = scorer.score(&window).map_err(|e| bad(e.to_string()))?;
        writeln!(scores, "{score}").map_err(ScoreError::Write)?;
        scored += 1;
        Ok(())
    });
    scores.flush().map_err(ScoreError::Write)?;
    outcome.map(|()| scored)
}

fn window(text: &str) -> Result<Vec<f32>, String> {
    if text.trim().is_empty() {
        return Err("an empty line; each line is one window".into());
    }
    serde_json::from_str(text).map_err(|e| {
        // serde_json places the error at "line 1" of this one line: only its column helps.
        let message = e.to_string();
        let message = message.split(" at line ").next().unwrap_or(&message);
        format!(
            "column {}: not a JSON array of numbers ({message})",
            e.column()
        )
    })
}

#[cfg(test)]
mod tests {
    use watershed_domain::ModelError;

    use super::*;

    /// Sums windows of three readings.
    struct Sum;

    impl Scorer for Sum {
        fn score(&self, window: &[f32]) -> Result<f32, ModelError> {
            if window.len() != 3 {
                return Err(ModelError::Scoring(format!(
                    "the window has {} readings; the model takes 3",
                    window.len()
                )));
            }
            Ok(window.iter().sum())
        }
    }

    fn score(input: &str) -> (Result<usize, ScoreError>, String) {
        let mut out = Vec::new();
        let result = score_lines(&Sum, input.as_bytes(), &mut out);
        (result, String::from_utf8(out).unwrap())
    }

    #[test]
    fn each_line_is_one_window_and_gets_one_score() {
        let (scored, out) = score("[1, 2, 3]\n[0.5,0.25,-1]\n[1e3, 0, 0]");
        assert_eq!(scored.unwrap(), 3);
        assert_eq!(out, "6\n-0.25\n1000\n");
    }

    #[test]
    fn the_first_bad_line_is_named_after_the_scores_before_it() {
        for (input, line, reason) in [
            (
                "[1, 2, 3]\n[1, 2]\n[1, 2, 3]\n",
                2,
                "the window has 2 readings",
            ),
            (
                "[1, 2, 3]\n[1, 2, 3]\n[1, \"2\", 3]\n",
                3,
                "column 7: not a JSON array",
            ),
            ("[1, 2, 3]\n\n", 2, "an empty line"),
            ("[1, 2, 3]\n{\"a\": 1}\n", 2, "not a JSON array of numbers"),
        ] {
            let (result, out) = score(input);
            let error = result.unwrap_err().to_string();
            assert!(
                error.starts_with(&format!("line {line}: ")) && error.contains(reason),
                "{input:?} gave {error:?}"
            );
            assert_eq!(out.lines().count(), line - 1, "{input:?}");
        }
    }
}
