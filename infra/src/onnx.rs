//! The model runtime: tract, a pure-Rust ONNX engine (ONNX-ML operators included), so no C++
//! runtime ships in the image. A model is read from its bytes, never from a path, so its
//! external-data references cannot reach the server's files. Loading scores one window of zeros:
//! a model that cannot answer is refused then, not when a rule first fires.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use tract_onnx::prelude::*;
use watershed_domain::model::{ModelError, ModelRuntime, OnnxModel, Scorer};

/// Loads models with tract-onnx. It holds nothing: each model gets its own optimized plan.
#[derive(Debug, Clone, Copy, Default)]
pub struct TractRuntime;

impl ModelRuntime for TractRuntime {
    fn load(&self, model: &OnnxModel, inputs: usize) -> Result<Arc<dyn Scorer>, ModelError> {
        if !(1..=OnnxModel::MAX_INPUTS).contains(&inputs) {
            return Err(ModelError::Unusable(format!(
                "a model looks at 1 to {} readings, not {inputs}",
                OnnxModel::MAX_INPUTS
            )));
        }
        let plan = unpanicked(|| plan(model.bytes(), inputs)).map_err(ModelError::Unusable)?;
        let scorer = TractScorer { plan, inputs };
        scorer
            .run(&vec![0.0; inputs])
            .map_err(|problem| ModelError::Unusable(format!("on a window of zeros, {problem}")))?;
        Ok(Arc::new(scorer))
    }
}

struct TractScorer {
    plan: Arc<TypedRunnableModel>,
    inputs: usize,
}

impl TractScorer {
    fn run(&self, window: &[f32]) -> Result<f32, String> {
        unpanicked(|| {
            let input =
                Tensor::from_shape(&[1, self.inputs], window).map_err(|e| format!("{e:#}"))?;
            let outputs = self
                .plan
                .run(tvec!(input.into()))
                .map_err(|e| format!("the model failed: {e:#}"))?;
            first_element(&outputs)
        })
    }
}

impl Scorer for TractScorer {
    fn score(&self, window: &[f32]) -> Result<f32, ModelError> {
        if window.len() != self.inputs {
            return Err(ModelError::Scoring(format!(
                "the window has {} readings; the model takes {}",
                window.len(),
                self.inputs
            )));
        }
        self.run(window).map_err(ModelError::Scoring)
    }
}

/// Parses the model, pins its one input to `[1, inputs]` floats and optimizes it for that shape.
fn plan(bytes: &[u8], inputs: usize) -> Result<Arc<TypedRunnableModel>, String> {
    let model = tract_onnx::onnx()
        .model_for_read(&mut &*bytes)
        .map_err(|e| format!("not an ONNX model tract can run: {e:#}"))?;
    let count = model.input_outlets().map_err(|e| format!("{e:#}"))?.len();
    if count != 1 {
        return Err(format!(
            "the model takes {count} inputs; a model rule gives it exactly one, [1, {inputs}] floats"
        ));
    }
    model
        .with_input_fact(0, f32::fact([1, inputs]).into())
        .and_then(|model| model.into_optimized())
        .and_then(|model| model.into_runnable())
        .map_err(|e| format!("tract cannot run the model on [1, {inputs}] floats: {e:#}"))
}

/// The score: the first element of the first output, which must be a tensor of floats.
fn first_element(outputs: &[TValue]) -> Result<f32, String> {
    let output = outputs.first().ok_or("the model has no output")?;
    let datum_type = output.datum_type();
    if !datum_type.is_float() {
        return Err(format!(
            "its first output holds {datum_type:?}, not floats (a classifier's first output is \
             its label: keep only its probabilities)"
        ));
    }
    let scores = output.cast_to::<f32>().map_err(|e| format!("{e:#}"))?;
    let scores = scores
        .to_plain_array_view::<f32>()
        .map_err(|e| format!("{e:#}"))?;
    scores
        .iter()
        .next()
        .copied()
        .ok_or_else(|| format!("its first output is empty (shape {:?})", output.shape()))
}

/// tract is not hardened against hostile models and some of its checks are assertions: a model
/// uploaded by an admin, or replayed from the history, must not take its process down.
fn unpanicked<T>(work: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|panic| {
        let reason = panic
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("no reason given");
        Err(format!("the runtime gave up on this model: {reason}"))
    })
}

#[cfg(test)]
mod tests {
    use prost::Message;
    use tract_onnx::pb::{
        attribute_proto::AttributeType, tensor_proto::DataType, type_proto, AttributeProto,
        GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TypeProto,
        ValueInfoProto,
    };

    use super::*;

    /// Made by `tests/models/check_models.py --fixtures`; its scores are onnxruntime's.
    const FIXTURE: &[u8] = include_bytes!("../../tests/models/fixtures/random_forest.onnx");
    const FIXTURE_WINDOWS: &str = include_str!("../../tests/models/fixtures/windows.ndjson");
    const FIXTURE_SCORES: &str = include_str!("../../tests/models/fixtures/scores.txt");
    const FIXTURE_INPUTS: usize = 8;

    fn load(bytes: &[u8], inputs: usize) -> Result<Arc<dyn Scorer>, ModelError> {
        TractRuntime.load(&OnnxModel::from_bytes(bytes.to_vec()).unwrap(), inputs)
    }

    fn unusable(result: Result<Arc<dyn Scorer>, ModelError>) -> String {
        match result {
            Err(ModelError::Unusable(message)) => message,
            Err(other) => panic!("expected Unusable, got {other:?}"),
            Ok(_) => panic!("expected Unusable, the model loaded"),
        }
    }

    fn float_input(name: &str) -> ValueInfoProto {
        ValueInfoProto {
            name: name.into(),
            r#type: Some(TypeProto {
                value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                    elem_type: DataType::Float as i32,
                    shape: None,
                })),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn node(op_type: &str, input: &[&str], attribute: Vec<AttributeProto>) -> NodeProto {
        NodeProto {
            op_type: op_type.into(),
            input: input.iter().map(|&name| name.into()).collect(),
            output: vec!["y".into()],
            attribute,
            ..Default::default()
        }
    }

    /// A one-node graph over float inputs whose output is `y`.
    fn graph(inputs: &[&str], node: NodeProto) -> Vec<u8> {
        ModelProto {
            ir_version: 8,
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: 17,
            }],
            graph: Some(GraphProto {
                name: "test".into(),
                node: vec![node],
                input: inputs.iter().map(|name| float_input(name)).collect(),
                output: vec![ValueInfoProto {
                    name: "y".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec()
    }

    #[test]
    fn the_fixture_scores_as_onnxruntime_does() {
        let scorer = load(FIXTURE, FIXTURE_INPUTS).unwrap();
        let mut compared = 0;
        for (window, expected) in FIXTURE_WINDOWS.lines().zip(FIXTURE_SCORES.lines()) {
            let window: Vec<f32> = serde_json::from_str(window).unwrap();
            let expected: f32 = expected.parse().unwrap();
            let score = scorer.score(&window).unwrap();
            assert!(
                (score - expected).abs() <= 1e-5 * expected.abs() + 1e-7,
                "window {window:?}: tract {score}, onnxruntime {expected}"
            );
            compared += 1;
        }
        assert_eq!(compared, FIXTURE_SCORES.lines().count());
        assert!(compared >= 50);
    }

    #[test]
    fn garbage_and_truncated_models_are_unusable_not_panics() {
        assert!(
            unusable(load(b"definitely not protobuf \xff\xfe", 8)).contains("not an ONNX model")
        );
        for cut in [1, FIXTURE.len() / 3, FIXTURE.len() / 2, FIXTURE.len() - 1] {
            unusable(load(&FIXTURE[..cut], FIXTURE_INPUTS));
        }
    }

    #[test]
    fn a_model_takes_exactly_one_input() {
        let two = graph(&["a", "b"], node("Add", &["a", "b"], vec![]));
        assert!(unusable(load(&two, 4)).contains("takes 2 inputs"));
    }

    #[test]
    fn a_model_answers_floats() {
        let to_int = AttributeProto {
            name: "to".into(),
            r#type: AttributeType::Int as i32,
            i: DataType::Int64 as i64,
            ..Default::default()
        };
        let labels = graph(&["x"], node("Cast", &["x"], vec![to_int]));
        assert!(unusable(load(&labels, 4)).contains("not floats"));
    }

    #[test]
    fn a_model_answers_at_least_one_number() {
        let nothing = AttributeProto {
            name: "value".into(),
            r#type: AttributeType::Tensor as i32,
            t: Some(TensorProto {
                dims: vec![0],
                data_type: DataType::Float as i32,
                ..Default::default()
            }),
            ..Default::default()
        };
        let empty = graph(&["x"], node("Constant", &[], vec![nothing]));
        assert!(unusable(load(&empty, 4)).contains("empty"));
    }

    #[test]
    fn a_model_is_loaded_for_one_to_max_inputs_readings() {
        unusable(load(FIXTURE, 0));
        unusable(load(FIXTURE, OnnxModel::MAX_INPUTS + 1));
    }

    #[test]
    fn a_window_of_another_length_is_not_scored() {
        let scorer = load(FIXTURE, FIXTURE_INPUTS).unwrap();
        for length in [0, FIXTURE_INPUTS - 1, FIXTURE_INPUTS + 1] {
            assert!(matches!(
                scorer.score(&vec![1.0; length]),
                Err(ModelError::Scoring(_))
            ));
        }
    }
}
