"""Checks SavedModels against real TensorFlow, driven by a manifest from run.ts.

Usage: check_savedmodels.py MANIFEST_JSON RESULTS_JSON

For every case in the manifest:
  show      `saved_model_cli show --all` (the real CLI, in a subprocess) lists exactly the
            documented signatures with their method, tensor names, dtypes and shapes;
  proto     (our files only) TensorFlow's protobuf parses saved_model.pb and re-serializes it to
            the same length: no unknown fields, no non-canonical values;
  session   the TF1 loader (what `saved_model_cli run` and TF Serving use) runs every listed
            signature; outputs match tfjs within the tolerance and argmax agrees on every image;
  c_api     the same through TF_LoadSessionFromSavedModel + TF_SessionRun via ctypes;
  cli_run   (when asked) `saved_model_cli run` on serving_default, outputs compared the same way;
  warmup    (when asked) assets.extra/tf_serving_warmup_requests read with TensorFlow's TFRecord
            reader (which checks both CRCs of each record), each record parsed as TF Serving's
            PredictionLog (tensorflow-serving-api), its PredictRequest checked against the
            signature it names (input keys, dtypes, shapes) and run through the TF1 session.
Results go to RESULTS_JSON; a line per check goes to stdout.
"""

import concurrent.futures
import json
import os
import subprocess
import sys
import tempfile

# No __pycache__ beside our sources: the repository would pick it up.
sys.dont_write_bytecode = True
sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))

import numpy as np  # noqa: E402

from tf_support import CApiModel, parse_show_all  # noqa: E402

import tensorflow as tf  # noqa: E402
from tensorflow.core.protobuf import saved_model_pb2  # noqa: E402
from tensorflow_serving.apis import prediction_log_pb2  # noqa: E402

# The TF1 loader is deprecated in Python, but it is the loader TF Serving's C++ twin mirrors.
tf.get_logger().setLevel("ERROR")


def load_array(entry):
    return np.fromfile(entry["file"], dtype="<f4").reshape(entry["shape"])


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def compare(run, outputs, tolerance):
    """(ok, worst abs diff, detail) for one signature run's outputs against the expected ones."""
    worst = 0.0
    details = []
    ok = True
    for key, entry in sorted(run["expected"].items()):
        if key not in outputs:
            return False, float("inf"), "output %r missing; got %s" % (key, sorted(outputs))
        got = outputs[key]
        if run.get("transform") == "softmax":
            got = softmax(got)
        want = load_array(entry)
        if got.shape != want.shape:
            detail = "%s has shape %s; expected %s" % (key, got.shape, want.shape)
            return False, float("inf"), detail
        diff = float(np.abs(got - want).max())
        worst = max(worst, diff)
        agree = int((got.argmax(-1) == want.argmax(-1)).sum())
        total = want.shape[0]
        ok = ok and diff <= tolerance and agree == total
        details.append("%s max|diff| %.3g, argmax %d/%d" % (key, diff, agree, total))
    return ok, worst, "; ".join(details)


def expected_show(signatures):
    """The documented signatures in the shape parse_show_all returns."""
    def tensors(d):
        return {k: {"dtype": v["dtype"], "shape": v["shape"], "name": v["tensor"]}
                for k, v in d.items()}
    return {key: {"method": s["method"], "inputs": tensors(s["inputs"]),
                  "outputs": tensors(s["outputs"])}
            for key, s in signatures["signatures"].items()}


def show(cli, export_dir):
    proc = subprocess.run([cli, "show", "--dir", export_dir, "--all"], capture_output=True,
                          text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    return proc


def cli_run(cli, export_dir, run, workdir):
    """`saved_model_cli run` on one signature; returns its outputs by key."""
    args = []
    for key, entry in run["inputs"].items():
        npy = os.path.join(workdir, "%s.npy" % key)
        np.save(npy, load_array(entry))
        args.append("%s=%s" % (key, npy))
    outdir = os.path.join(workdir, "out")
    proc = subprocess.run(
        [cli, "run", "--dir", export_dir, "--tag_set", "serve", "--signature_def",
         run["signature"], "--inputs", ";".join(args), "--outdir", outdir, "--overwrite"],
        capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    if proc.returncode != 0:
        raise RuntimeError("saved_model_cli run exited %d: %s" % (proc.returncode,
                                                                  proc.stderr[-2000:]))
    return {key: np.load(os.path.join(outdir, "%s.npy" % key)) for key in run["expected"]}


def session_outputs(sess, meta, run):
    sig = meta.signature_def[run["signature"]]
    feeds = {sig.inputs[k].name: load_array(e) for k, e in run["inputs"].items()}
    keys = sorted(sig.outputs)
    values = sess.run([sig.outputs[k].name for k in keys], feeds)
    return dict(zip(keys, values))


WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")


def read_warmup(export_dir):
    """The warmup file's records, read eagerly by TensorFlow's TFRecord reader; None without one."""
    path = os.path.join(export_dir, WARMUP_FILE)
    if not os.path.exists(path):
        return None
    return [raw.numpy() for raw in tf.data.TFRecordDataset(path)]


def check_warmup(sess, meta, records):
    """(ok, detail, records) of the warmup records, as TF Serving would replay them."""
    if records is None:
        return False, "no %s" % WARMUP_FILE, 0
    sizes = []
    for i, raw in enumerate(records):
        log = prediction_log_pb2.PredictionLog.FromString(raw)
        if log.WhichOneof("log_type") != "predict_log":
            return False, "record %d holds a %s" % (i, log.WhichOneof("log_type")), i
        request = log.predict_log.request
        name = request.model_spec.signature_name or "serving_default"
        if name not in meta.signature_def:
            return False, "record %d names signature %r, which the model lacks" % (i, name), i
        sig = meta.signature_def[name]
        if sorted(request.inputs) != sorted(sig.inputs):
            return False, "record %d inputs %s; signature %s" % (
                i, sorted(request.inputs), sorted(sig.inputs)), i
        feeds = {}
        for key, proto in request.inputs.items():
            want = sig.inputs[key]
            dims = [d.size for d in proto.tensor_shape.dim]
            expected = [d.size for d in want.tensor_shape.dim]
            fits = len(dims) == len(expected) and all(e in (-1, d) for d, e in zip(dims, expected))
            if proto.dtype != want.dtype or not fits:
                return False, "record %d input %s is dtype %d shape %s; signature dtype %d shape %s" % (
                    i, key, proto.dtype, dims, want.dtype, expected), i
            feeds[want.name] = tf.make_ndarray(proto)
        outputs = sess.run({k: v.name for k, v in sig.outputs.items()}, feed_dict=feeds)
        rows = {k: v.shape[0] for k, v in outputs.items()}
        if set(rows.values()) != {dims[0]}:
            return False, "record %d of batch %d gave outputs %s" % (i, dims[0], rows), i
        sizes.append(dims[0])
    return True, "%d records parsed by TensorFlow and run, batch sizes %s" % (
        len(sizes), ", ".join(map(str, sizes))), len(sizes)


def main(argv):
    manifest_file, results_file = argv[1], argv[2]
    with open(manifest_file) as f:
        manifest = json.load(f)
    tolerance = manifest["tolerance"]
    cli = manifest["savedModelCli"]
    results = {"tensorflow": tf.__version__, "cases": []}

    def record(case_result, check, ok, detail, diff=None):
        case_result["checks"].append({"check": check, "ok": bool(ok), "detail": detail,
                                      "maxAbsDiff": diff})
        print("  %-5s %-22s %-30s %s" % ("ok" if ok else "FAIL", case_result["name"], check,
                                         detail), flush=True)

    # The CLI subprocesses each import TensorFlow (seconds apiece): start them all now, two at a
    # time, and collect them after the in-process checks.
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=2)
    shows = {c["name"]: pool.submit(show, cli, c["dir"]) for c in manifest["cases"]}
    cli_runs = {}
    # Beside the manifest, in the run's working directory, which goes (or is kept) with it.
    tmp = tempfile.mkdtemp(prefix="cli-run-", dir=os.path.dirname(os.path.abspath(manifest_file)))
    for c in manifest["cases"]:
        if c.get("cliRun"):
            run = next(r for r in c["runs"] if r["signature"] == "serving_default")
            work = os.path.join(tmp, c["name"])
            os.makedirs(work)
            cli_runs[c["name"]] = (run, pool.submit(cli_run, cli, c["dir"], run, work))

    for c in manifest["cases"]:
        res = {"name": c["name"], "checks": []}
        results["cases"].append(res)
        export_dir = c["dir"]

        if c.get("ours"):
            with open(os.path.join(export_dir, "saved_model.pb"), "rb") as f:
                raw = f.read()
            try:
                parsed = saved_model_pb2.SavedModel.FromString(raw)
                again = len(parsed.SerializeToString())
                record(res, "proto", again == len(raw),
                       "TensorFlow parses %d bytes, re-serializes %d" % (len(raw), again))
            except Exception as err:  # noqa: BLE001 - any parse error is the finding
                record(res, "proto", False, "TensorFlow cannot parse saved_model.pb: %s" % err)

        try:
            warmup = read_warmup(export_dir) if c.get("warmup") else None
            with tf.compat.v1.Session(graph=tf.Graph()) as sess:
                meta = tf.compat.v1.saved_model.loader.load(sess, ["serve"], export_dir)
                for run in c["runs"]:
                    ok, diff, detail = compare(run, session_outputs(sess, meta, run), tolerance)
                    record(res, "session " + run["signature"], ok, detail, diff)
                if c.get("warmup"):
                    ok, detail, res["warmupRecords"] = check_warmup(sess, meta, warmup)
                    record(res, "warmup", ok, detail)
        except Exception as err:  # noqa: BLE001
            record(res, "session", False, "TF1 loader failed: %s" % err)

        try:
            model = CApiModel(export_dir)
            try:
                for run in c["runs"]:
                    feeds = {k: load_array(e) for k, e in run["inputs"].items()}
                    ok, diff, detail = compare(run, model.run(run["signature"], feeds), tolerance)
                    record(res, "c_api " + run["signature"], ok, detail, diff)
            finally:
                model.close()
        except Exception as err:  # noqa: BLE001
            record(res, "c_api", False, str(err))

    for c in manifest["cases"]:
        res = next(r for r in results["cases"] if r["name"] == c["name"])
        proc = shows[c["name"]].result()
        if proc.returncode != 0:
            record(res, "show --all", False, "exited %d: %s" % (proc.returncode,
                                                                 proc.stderr[-1000:]))
        else:
            listed = parse_show_all(proc.stdout).get("serve", {})
            want = expected_show(c["signatures"])
            if listed == want:
                record(res, "show --all", True, "lists %s" % ", ".join(sorted(listed)))
            else:
                record(res, "show --all", False,
                       "lists %s; documented %s" % (json.dumps(listed), json.dumps(want)))
        if c["name"] in cli_runs:
            run, future = cli_runs[c["name"]]
            try:
                ok, diff, detail = compare(run, future.result(), tolerance)
                record(res, "cli_run serving_default", ok, detail, diff)
            except Exception as err:  # noqa: BLE001
                record(res, "cli_run serving_default", False, str(err))
    pool.shutdown()

    with open(results_file, "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main(sys.argv)
