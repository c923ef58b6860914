/**
 * The gate of a loaded model as a pure decision (which range is served, what the refusal says),
 * and its evaluation cache on a model TensorFlow cannot load: an error, and no entry or lock left.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { EVALUATIONS_DIR, cachedEvaluation } from "../model/sources/evaluationCache";
import { gateLoadedModel } from "../model/sources/gate";
import { saveLayersModel } from "../model/training/artifact";
import { loadMnist } from "../model/training/data";
import { createModel } from "../model/training/model";
import { runCli } from "./doubles/runCli";

/** An evaluation with these accuracies and losses, 0-255 first. */
function scored(a255: number, l255: number, a1: number, l1: number) {
    return { "0-255": { accuracy: a255, loss: l255 }, "0-1": { accuracy: a1, loss: l1 } };
}

describe("the quality gate of a loaded model", () => {
    it("serves the one range that passes, or of two the one with the lower loss", () => {
        assert.deepStrictEqual(gateLoadedModel("m", scored(0.92, 0.28, 0.11, 2.5), 0.9), {
            inputScale: "0-255",
            accuracy: 0.92,
        });
        // A 0-1 MLP classifies 0-255 input a little better, but its scores saturate there.
        assert.deepStrictEqual(gateLoadedModel("m", scored(0.918, 1.29, 0.914, 0.29), 0.9), {
            inputScale: "0-1",
            accuracy: 0.914,
        });
        assert.deepStrictEqual(gateLoadedModel("m", scored(0.95, 0.2, 0.96, 0.3), 0.9), {
            inputScale: "0-255",
            accuracy: 0.95,
        });
    });

    it("gates only the range config names, saying what the other one scores", () => {
        assert.deepStrictEqual(
            gateLoadedModel("m", scored(0.918, 1.29, 0.914, 0.29), 0.9, "0-255"),
            {
                inputScale: "0-255",
                accuracy: 0.918,
            },
        );
        assert.throws(
            () => gateLoadedModel("/models/m", scored(0.92, 0.28, 0.11, 2.5), 0.9, "0-1"),
            /^Error: quality gate: model source \/models\/m scores 0\.9200 sent pixels as 0-255 \(loss 0\.280\), 0\.1100 sent pixels as 0-1 \(loss 2\.500\) on the MNIST test set; inputScale 0-1 gives 0\.1100, below minAccuracy 0\.9\. Nothing was created/,
        );
    });

    it("refuses a model neither range passes, naming both accuracies and the gate", () => {
        assert.throws(
            () => gateLoadedModel("/models/r", scored(0.0783, 14.6, 0.0783, 2.36), 0.97),
            /^Error: quality gate: model source \/models\/r scores 0\.0783 sent pixels as 0-255 \(loss 14\.600\), 0\.0783 sent pixels as 0-1 \(loss 2\.360\) on the MNIST test set, both below minAccuracy 0\.97\. Nothing was created; expected a model that classifies MNIST digits, or a lower minAccuracy$/,
        );
        // At the gate exactly passes, as for a trained model.
        assert.strictEqual(gateLoadedModel("m", scored(0.97, 0.1, 0.1, 2), 0.97).accuracy, 0.97);
    });

    it("an evaluation that fails leaves no cache entry and no lock behind", async () => {
        const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "tfk8s-gate-"));
        try {
            const broken = path.join(scratch, "model", "1");
            fs.mkdirSync(broken, { recursive: true });
            fs.writeFileSync(path.join(broken, "saved_model.pb"), "not a protobuf");
            const cacheDir = path.join(scratch, "cache");
            await assert.rejects(
                cachedEvaluation(broken, loadMnist(), cacheDir, () => {}),
                /^Error: TensorFlow could not load the SavedModel .*model\/1 \(tag serve, signature serving_default\): /,
            );
            assert.deepStrictEqual(fs.readdirSync(path.join(cacheDir, EVALUATIONS_DIR)), []);
        } finally {
            fs.rmSync(scratch, { recursive: true, force: true });
        }
    });

    it("where tfjs-node does not load, says so and names the opt-out instead of skipping the gate", async () => {
        const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "tfk8s-no-tfjs-node-"));
        try {
            await saveLayersModel(createModel({ seed: 1 }), scratch);
            const run = await runCli("test/doubles/withoutTfjsNode.ts", [
                path.join(scratch, "model.json"),
                path.join(scratch, "export"),
            ]);
            assert.strictEqual(run.code, 0, run.stderr);
            assert.strictEqual(
                run.stdout.trim(),
                `model source ${path.join(scratch, "model.json")} cannot be evaluated: @tensorflow/tfjs-node did not load ` +
                    "(libtensorflow.so.2: cannot open shared object file: No such file or directory), so no SavedModel " +
                    "can run here; expected it built (bash scripts/build-tfjs-node.sh); or set skipModelEvaluation to " +
                    "true (and inputScale) to serve it unevaluated, which the production policy pack refuses",
            );
            // Nothing cached: the next run with tfjs-node evaluates it.
            assert.deepStrictEqual(
                fs.readdirSync(path.join(scratch, "export-cache", EVALUATIONS_DIR)),
                [],
            );
        } finally {
            fs.rmSync(scratch, { recursive: true, force: true });
        }
    });
});
