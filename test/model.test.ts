import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as tf from "@tensorflow/tfjs";
import { loadLayersModel, saveLayersModel, MODEL_JSON } from "../model/training/artifact";
import { speedUpWasmTransposedMatMul } from "../model/training/backend";
import { createModel, crossentropyFromLogits, oneHotLabels } from "../model/training/model";

describe("createModel", () => {
    it("matches the Keras model layer for layer: 101,770 parameters", () => {
        const model = createModel({ seed: 1 });
        assert.strictEqual(model.countParams(), 101770);
        assert.deepStrictEqual(
            model.layers.map((l) => l.getClassName()),
            ["Flatten", "Dense", "Dropout", "Dense"],
        );
        assert.deepStrictEqual(model.inputs[0].shape, [null, 28, 28]);
        assert.deepStrictEqual(model.outputs[0].shape, [null, 10]);
        const [hidden, , logits] = model.layers.slice(1).map((l) => l.getConfig());
        assert.strictEqual(hidden.units, 128);
        assert.strictEqual(hidden.activation, "relu");
        // tfjs serializes glorot-uniform as the VarianceScaling it is.
        const init = hidden.kernelInitializer as {
            className: string;
            config: Record<string, unknown>;
        };
        assert.strictEqual(init.className, "VarianceScaling");
        assert.deepStrictEqual(
            [init.config.scale, init.config.mode, init.config.distribution],
            [1, "fanAvg", "uniform"],
        );
        assert.strictEqual(logits.activation, "linear");
        assert.strictEqual(model.layers[2].getConfig().rate, 0.2);
        const optimizer = model.optimizer as tf.AdamOptimizer;
        assert.strictEqual(optimizer.getConfig().learningRate, 0.001);
    });

    it("starts from the same weights for the same seed and different ones for another", () => {
        const a = createModel({ seed: 7 }).getWeights()[0].dataSync();
        const b = createModel({ seed: 7 }).getWeights()[0].dataSync();
        const c = createModel({ seed: 8 }).getWeights()[0].dataSync();
        assert.deepStrictEqual(Array.from(a.slice(0, 50)), Array.from(b.slice(0, 50)));
        assert.notDeepStrictEqual(Array.from(a.slice(0, 50)), Array.from(c.slice(0, 50)));
        // Glorot uniform bound for a 784x128 kernel.
        const limit = Math.sqrt(6 / (784 + 128));
        assert.ok(a.every((w) => Math.abs(w) <= limit));
    });

    it("rejects bad hyperparameters by name", () => {
        assert.throws(
            () => createModel({ hiddenUnits: 0 }),
            /`hiddenUnits` is 0; expected a positive integer/,
        );
        assert.throws(
            () => createModel({ dropoutRate: 1 }),
            /`dropoutRate` is 1; expected a number in \[0, 1\)/,
        );
        assert.throws(
            () => createModel({ learningRate: -1 }),
            /`learningRate` is -1; expected a positive number/,
        );
    });

    it("computes sparse cross-entropy from logits", () => {
        const logits = tf.tensor2d([[2, 0, 0, 0, 0, 0, 0, 0, 0, 0]]);
        const loss = crossentropyFromLogits(oneHotLabels(tf.tensor1d([0], "int32")), logits);
        const expected = -Math.log(Math.exp(2) / (Math.exp(2) + 9));
        assert.ok(Math.abs(loss.dataSync()[0] - expected) < 1e-6);
    });

    it("survives a save/load round trip with predictions equal within 1e-6", async () => {
        const model = createModel({ seed: 5 });
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tfk8s-model-"));
        await saveLayersModel(model, dir);
        const loaded = await loadLayersModel(path.join(dir, MODEL_JSON));
        const x = tf.randomUniform([4, 28, 28], 0, 1, "float32", 11);
        const want = (model.predict(x) as tf.Tensor).dataSync();
        const got = (loaded.predict(x) as tf.Tensor).dataSync();
        const maxDiff = Math.max(...Array.from(want, (w, i) => Math.abs(w - got[i])));
        assert.ok(maxDiff <= 1e-6, `max difference ${maxDiff}`);
        assert.ok(
            Array.from(want).some((v) => v !== 0),
            "predictions are not all zero",
        );
    });

    it("names a weight file that model.json lists but is missing", async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tfk8s-model-"));
        await saveLayersModel(createModel(), dir);
        fs.rmSync(path.join(dir, "weights.bin"));
        await assert.rejects(
            loadLayersModel(path.join(dir, MODEL_JSON)),
            /lists weight file weights\.bin, which is missing/,
        );
    });
});

describe("WASM transposed matrix product", () => {
    it("gives the CPU backend's x^T·y after the speed-up patch, without leaking memory", async () => {
        const previous = tf.getBackend();
        require("@tensorflow/tfjs-backend-wasm");
        const a = Array.from({ length: 6 * 5 }, (_, i) => Math.sin(i));
        const b = Array.from({ length: 6 * 4 }, (_, i) => Math.cos(i));
        const product = () =>
            tf.tidy(() =>
                Array.from(
                    tf
                        .matMul(tf.tensor2d(a, [6, 5]), tf.tensor2d(b, [6, 4]), true, false)
                        .dataSync(),
                ),
            );
        try {
            await tf.setBackend("cpu");
            const want = product();
            await tf.setBackend("wasm");
            speedUpWasmTransposedMatMul();
            // The patch's transposed copy is backend data with no tensor around it, so only the
            // backend's own count sees it leak; tf.tidy and numTensors cannot.
            const backend = tf.engine().backend;
            const before = { tensors: tf.memory().numTensors, data: backend.numDataIds() };
            const got = product();
            assert.deepStrictEqual(
                { tensors: tf.memory().numTensors, data: backend.numDataIds() },
                before,
            );
            assert.strictEqual(got.length, 20);
            assert.ok(
                got.every((v, i) => Math.abs(v - want[i]) < 1e-5),
                `${got} vs ${want}`,
            );
        } finally {
            await tf.setBackend(previous);
        }
    });
});
