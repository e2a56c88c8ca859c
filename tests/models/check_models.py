"""Model alert rules, scored by onnxruntime and by `watershed models score` (tract) alike.

Builds models the ways data scientists do: plain ONNX operators with onnx.helper, and scikit-learn
models converted by skl2onnx, which emit the ONNX-ML operators (LinearRegressor,
TreeEnsembleClassifier). Scores a few hundred random windows with both runtimes and compares every
score; exits nonzero on any mismatch, missing score or unexpected answer.

    check_models.py --bin target/debug/watershed --work DIR
    check_models.py --fixtures tests/models/fixtures   # the model and scores `cargo test` reads
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper, numpy_helper
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from skl2onnx.helpers.onnx_helper import select_model_inputs_outputs
from sklearn.ensemble import (
    GradientBoostingClassifier,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LinearRegression

# A score matches when |tract - onnxruntime| <= RTOL * |onnxruntime| + ATOL: float32 arithmetic in
# another order differs in the last bits; ATOL covers scores that are almost zero.
RTOL = 1e-5
ATOL = 1e-7
WINDOWS = 300


def readings(rng, count, inputs):
    """Windows of a temperature-like sensor: a level per window, noise around it, as float32."""
    level = rng.normal(20.0, 5.0, size=(count, 1))
    return (level + rng.normal(0.0, 1.5, size=(count, inputs))).astype(np.float32)


def plain_model(rng, inputs):
    """A small network of standard operators: sigmoid(tanh(x W1 + b1) W2 + b2)."""
    hidden = 4
    weights = {
        "w1": rng.normal(0.0, 0.3, size=(inputs, hidden)),
        "b1": rng.normal(0.0, 0.3, size=(hidden,)),
        "w2": rng.normal(0.0, 0.5, size=(hidden, 1)),
        "b2": rng.normal(0.0, 0.5, size=(1,)),
    }
    initializers = [numpy_helper.from_array(v.astype(np.float32), k) for k, v in weights.items()]
    nodes = [
        helper.make_node("MatMul", ["window", "w1"], ["h0"]),
        helper.make_node("Add", ["h0", "b1"], ["h1"]),
        helper.make_node("Tanh", ["h1"], ["h2"]),
        helper.make_node("MatMul", ["h2", "w2"], ["s0"]),
        helper.make_node("Add", ["s0", "b2"], ["s1"]),
        helper.make_node("Sigmoid", ["s1"], ["score"]),
    ]
    graph = helper.make_graph(
        nodes,
        "plain",
        [helper.make_tensor_value_info("window", TensorProto.FLOAT, ["n", inputs])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["n", 1])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def sklearn_onnx(estimator, inputs, options=None):
    return convert_sklearn(
        estimator,
        initial_types=[("window", FloatTensorType([None, inputs]))],
        options=options,
        target_opset={"": 17, "ai.onnx.ml": 3},
    )


def linear_model(rng, inputs):
    """The next reading predicted from the window: skl2onnx writes a LinearRegressor."""
    series = readings(rng, 400, inputs + 1)
    return sklearn_onnx(LinearRegression().fit(series[:, :-1], series[:, -1]), inputs)


def drift_labels(windows, classes):
    """Whether the sensor drifts up (2 classes), or down, flat or up (3 classes)."""
    drift = windows[:, -3:].mean(axis=1) - windows[:, :3].mean(axis=1)
    return np.digitize(drift, [0.5] if classes == 2 else [-0.5, 0.5])


def classifier_onnx(estimator, inputs):
    """A classifier's first output is its label (int64), which is no score: only its
    probabilities are kept, so the score is the probability of the first class."""
    model = sklearn_onnx(estimator, inputs, {id(estimator): {"zipmap": False}})
    return select_model_inputs_outputs(model, outputs=["probabilities"])


def forest_classifier(rng, inputs):
    """A random forest telling drift (skl2onnx writes a binary TreeEnsembleClassifier)."""
    windows = readings(rng, 600, inputs)
    estimator = RandomForestClassifier(n_estimators=10, max_depth=4, random_state=7)
    return classifier_onnx(estimator.fit(windows, drift_labels(windows, 2)), inputs)


def boosted_classifier(rng, inputs, classes):
    """Gradient-boosted trees (a TreeEnsembleClassifier with base values)."""
    windows = readings(rng, 600, inputs)
    estimator = GradientBoostingClassifier(n_estimators=10, max_depth=3, random_state=7)
    return classifier_onnx(estimator.fit(windows, drift_labels(windows, classes)), inputs)


def forest_regressor(rng, inputs):
    """skl2onnx writes a TreeEnsembleRegressor, which tract does not implement."""
    series = readings(rng, 200, inputs + 1)
    estimator = RandomForestRegressor(n_estimators=5, max_depth=3, random_state=7)
    return sklearn_onnx(estimator.fit(series[:, :-1], series[:, -1]), inputs)


def reference_scores(model, windows):
    """onnxruntime's score of each window run alone, as `watershed` runs it: [1, inputs]."""
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    name = session.get_inputs()[0].name
    return np.array(
        [np.ravel(session.run(None, {name: window[None, :]})[0])[0] for window in windows],
        dtype=np.float32,
    )


def ndjson(windows):
    # float() of a float32 is exact, and its repr parses back to the same float32.
    return "".join(json.dumps([float(x) for x in window]) + "\n" for window in windows)


def score(binary, model_path, inputs, stdin):
    return subprocess.run(
        [binary, "models", "score", "--model", str(model_path), "--inputs", str(inputs)],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        # Errors as a data scientist reads them, without a backtrace.
        env={**os.environ, "RUST_BACKTRACE": "0", "RUST_LIB_BACKTRACE": "0"},
    )


def fail(message):
    print(f"check-models: {message}", file=sys.stderr)
    sys.exit(1)


def compare(name, binary, work, model, inputs, windows):
    """Returns the worst absolute and relative differences; fails on any mismatch."""
    path = work / f"{name}.onnx"
    path.write_bytes(model.SerializeToString())
    expected = reference_scores(model, windows)
    answer = score(binary, path, inputs, ndjson(windows))
    if answer.returncode != 0:
        fail(f"{name}: watershed exited {answer.returncode}: {answer.stderr.strip()}")
    lines = answer.stdout.splitlines()
    if len(lines) != len(windows):
        fail(f"{name}: {len(windows)} windows sent, {len(lines)} scores back")
    actual = np.array([np.float32(float(line)) for line in lines], dtype=np.float32)
    difference = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
    allowed = RTOL * np.abs(expected.astype(np.float64)) + ATOL
    if not np.all(np.isfinite(actual) == np.isfinite(expected)) or np.any(difference > allowed):
        worst = int(np.nanargmax(difference - allowed))
        fail(
            f"{name}: window {worst + 1} scored {actual[worst]!r} by watershed, "
            f"{expected[worst]!r} by onnxruntime"
        )
    relative = difference / np.maximum(np.abs(expected.astype(np.float64)), ATOL)
    operators = sorted({node.op_type for node in model.graph.node})
    print(
        f"{name} ({', '.join(operators)}): {len(windows)} windows, worst difference "
        f"{difference.max():.3g} (relative {relative.max():.3g})"
    )
    return difference.max(), relative.max()


def expect_refusal(name, binary, path, inputs, stdin, wanted, scores_before):
    """watershed must exit nonzero, say `wanted` and print only the scores before the bad line."""
    answer = score(binary, path, inputs, stdin)
    if answer.returncode == 0 or wanted not in answer.stderr:
        fail(f"{name}: expected a refusal naming {wanted!r}, got exit {answer.returncode}, "
             f"stderr {answer.stderr.strip()!r}")
    if len(answer.stdout.splitlines()) != scores_before:
        fail(f"{name}: expected {scores_before} scores before the refusal: {answer.stdout!r}")
    print(f"{name}: refused ({answer.stderr.strip().splitlines()[-1].strip()})")


def check(binary, work):
    rng = np.random.default_rng(20261201)
    # name, model, inputs, the operator it must contain (else the check no longer checks it)
    models = [
        ("plain", plain_model(rng, 8), 8, "MatMul"),
        ("linear_regression", linear_model(rng, 16), 16, "LinearRegressor"),
        ("random_forest", forest_classifier(rng, 8), 8, "TreeEnsembleClassifier"),
        ("gradient_boosting_3_classes", boosted_classifier(rng, 8, 3), 8, "TreeEnsembleClassifier"),
    ]
    worst = []
    for name, model, inputs, operator in models:
        if operator not in {node.op_type for node in model.graph.node}:
            fail(f"{name}: the converter no longer writes {operator}")
        worst.append(compare(name, binary, work, model, inputs, readings(rng, WINDOWS, inputs)))

    plain = work / "plain.onnx"
    window = json.dumps([1.0] * 8)
    stdin = f"{window}\n[1, 2, 3]\n{window}\n"
    expect_refusal("a short window", binary, plain, 8, stdin, "line 2", 1)
    expect_refusal("a line of text", binary, plain, 8, f"{window}\n{window}\nhello\n", "line 3", 2)
    # What tract 0.23 cannot run, refused at load with the reason: a data scientist sees it here
    # first. When an upgrade runs them, they belong in the comparisons above.
    for name, model, wanted in [
        ("random forest regressor", forest_regressor(rng, 8), "TreeEnsembleRegressor"),
        ("binary gradient boosting", boosted_classifier(rng, 8, 2), "base_values"),
    ]:
        path = work / f"{name.replace(' ', '_')}.onnx"
        path.write_bytes(model.SerializeToString())
        expect_refusal(name, binary, path, 8, f"{window}\n", wanted, 0)

    windows = WINDOWS * len(models)
    print(
        f"check-models: {windows} windows over {len(models)} models match onnxruntime; worst "
        f"difference {max(a for a, _ in worst):.3g} (relative {max(r for _, r in worst):.3g})"
    )


def write_fixtures(directory):
    """The random forest, 64 windows and onnxruntime's scores, for `cargo test`."""
    rng = np.random.default_rng(7)
    model = forest_classifier(rng, 8)
    windows = readings(rng, 64, 8)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "random_forest.onnx").write_bytes(model.SerializeToString())
    (directory / "windows.ndjson").write_text(ndjson(windows))
    scores = reference_scores(model, windows)
    # str of a float32 is the shortest text that parses back to it, as Rust prints an f32.
    (directory / "scores.txt").write_text("".join(str(s) + "\n" for s in scores))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", help="the watershed binary")
    parser.add_argument("--work", type=Path, help="a directory for the models")
    parser.add_argument("--fixtures", type=Path, help="write the Rust tests' fixture here instead")
    args = parser.parse_args()
    if args.fixtures:
        write_fixtures(args.fixtures)
    elif args.bin and args.work:
        check(args.bin, args.work)
    else:
        parser.error("give --bin and --work, or --fixtures")


if __name__ == "__main__":
    main()
