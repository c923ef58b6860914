/**
 * End to end against real TensorFlow: our model is trained (quickly), exported with the
 * TypeScript SavedModel writer and served by the TF Serving stand-in in `serving-standin/` (the
 * server of the stand-in base image), which speaks TF Serving's REST contract and answers with what the
 * TensorFlow runtime computes from our graph. The client, the `predict` command and the smoke
 * check then run against it.
 *
 * Needs `.venv/bin/python` with TensorFlow (`scripts/tf-venv.sh`). Without it the suite skips,
 * saying why; with CI=true it fails instead.
 */
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as tf from "@tensorflow/tfjs";
import { makeKerasModel } from "../support/broughtModels";
import { venvPython } from "../support/venv";
import { argMax, softmax } from "../../client/scores";
import { readMnistImage } from "../../client/image";
import { imagesFromPixels } from "../../client/inputs";
import { parseErrorBody } from "../../client/responses";
import { TfServingClient } from "../../client/tfServingClient";
import { TfServingGrpcClient } from "../../client/grpcClient";
import {
    ServingConnectionError,
    ServingHttpError,
    ServingInputError,
    ServingRpcError,
} from "../../client/servingErrors";
import { MODEL_JSON, loadLayersModel, saveLayersModel } from "../../model/training/artifact";
import { initBackend } from "../../model/training/backend";
import { MnistData, defaultMnistDir, loadMnist } from "../../model/training/data";
import { ExportResult, exportSavedModel } from "../../model/savedmodel/export";
import {
    RENDERINGS,
    encodeJpeg,
    encodePng,
    grayToRgba,
    renderDigit,
    writeFile,
} from "../doubles/digitImages";
import { logitsOf, quickModel } from "../doubles/quickModel";
import { failedSmokeLines, runCli } from "../doubles/runCli";
import { TfServingDouble } from "../doubles/tfServingDouble";

const PIXELS = 28 * 28;
const COUNT = 100;
/** TensorFlow (double) and TensorFlow.js run the same float32 graph; allow for summation order. */
const LOGIT_TOLERANCE = 1e-3;

describe("end to end: TF Serving's REST contract over TensorFlow running our SavedModel", function () {
    let python: string | undefined;
    let dir: string;
    let mnist: MnistData;
    let model: tf.LayersModel;
    let modelDir: string;
    let exported: ExportResult;
    let double: TfServingDouble;
    /** The local (tfjs) logits of the first COUNT test images. */
    let local: number[][];
    const client = (options: { model?: string; version?: number; label?: string } = {}) =>
        new TfServingClient({ url: double.url, timeoutMs: 30_000, ...options });

    before(async function () {
        python = venvPython();
        if (python === undefined) {
            const why =
                "no TensorFlow: .venv/bin/python is missing or cannot `import tensorflow` (see scripts/tf-venv.sh)";
            if (process.env.CI === "true")
                throw new Error(
                    `CI=true requires the end-to-end suite to run, but there is ${why}`,
                );
            console.log(`    skipping the end-to-end suite: ${why}`);
            this.skip();
        }
        await initBackend(undefined, () => undefined);
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "tfk8s-e2e-"));
        mnist = loadMnist();
        const quick = await quickModel();
        model = quick.model;
        modelDir = quick.dir;
        exported = await exportSavedModel(model, path.join(dir, "export"), {
            name: "mymodel",
            version: 1,
            warmupBatchSizes: [1, 8, 100],
        });
        local = logitsOf(model, mnist.test.images.subarray(0, COUNT * PIXELS), COUNT);
        // Seconds in START, then TensorFlow's import and load: a real start-up to wait through.
        // The smoke command starts after the double and must poll inside that window: with 3 s
        // in START it once started too late, on a machine whose other core was busy; CI runs this
        // suite beside the real-stack suites.
        double = await TfServingDouble.start({
            python: python as string,
            modelBasePath: path.dirname(exported.dir),
            loadDelaySeconds: 10,
            labels: { stable: 1 },
            grpc: true,
        });
    });

    after(async () => {
        await double?.stop();
        if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
    });

    it("smoke waits through the server's start-up, then agrees with the local model on 100 images", async () => {
        const run = await runCli("client/smoke.ts", [
            "--url",
            double.url,
            "--model-dir",
            modelDir,
            "--wait",
            "120",
        ]);
        assert.strictEqual(run.code, 0, `${run.stdout}\n${run.stderr}\n${double.log}`);
        assert.match(run.stdout, /not yet: (version 1 is (START|LOADING)|.*Could not find)/);
        assert.match(run.stdout, /version 1 is AVAILABLE/);
        const verdict = run.stdout.trimEnd().split("\n").pop() ?? "";
        assert.match(
            verdict,
            /^smoke: OK: version 1 agrees with the local model on all 100 MNIST test images 0-99/,
        );
        const correct = local.filter((l, i) => argMax(l) === mnist.test.labels[i]).length;
        assert.match(
            verdict,
            new RegExp(
                `served accuracy ${(correct / COUNT).toFixed(4)}, local ${(correct / COUNT).toFixed(4)}`,
            ),
        );
    });

    describe("once the version is AVAILABLE", () => {
        it("smoke with the served SavedModel as its local model runs it in TensorFlow and agrees", async () => {
            const run = await runCli("client/smoke.ts", [
                "--url",
                double.url,
                "--model-dir",
                exported.dir,
                "--min-accuracy",
                "0.5",
            ]);
            assert.strictEqual(run.code, 0, `${run.stdout}\n${run.stderr}`);
            assert.match(
                run.stdout,
                new RegExp(`local model: the SavedModel ${exported.dir}, in TensorFlow`),
            );
            const verdict = run.stdout.trimEnd().split("\n").pop() ?? "";
            assert.match(verdict, /^smoke: OK: version 1 agrees with the local model on all 100/);
            assert.match(verdict, /\(at least minAccuracy 0\.5\)/);
            // The same graph in the same runtime: the logits are the served ones.
            const diff = Number(/largest logit difference (\S+)\)/.exec(verdict)?.[1]);
            assert.ok(diff < LOGIT_TOLERANCE, `largest logit difference ${diff}`);
        });

        before(async () => {
            await client().waitUntilAvailable({ timeoutMs: 120_000, intervalMs: 250 });
        });

        it("reports model_version_status and the signatures our writer exported", async () => {
            const status = await client().status();
            assert.deepStrictEqual(status.versions, [
                { version: 1, state: "AVAILABLE", errorCode: "OK", errorMessage: "" },
            ]);
            const meta = await client({ label: "stable" }).metadata();
            assert.deepStrictEqual([meta.name, meta.version], ["mymodel", 1]);
            const written = exported.signatures.signatures;
            assert.deepStrictEqual(
                Object.keys(meta.signatures).sort(),
                Object.keys(written).sort(),
            );
            for (const [key, sig] of Object.entries(written)) {
                for (const side of ["inputs", "outputs"] as const) {
                    for (const [name, t] of Object.entries(sig[side])) {
                        const served = meta.signatures[key][side][name];
                        assert.deepStrictEqual(
                            [served.tensor, served.dtype, served.shape],
                            [t.tensor, t.dtype, t.shape],
                            `${key} ${side} ${name}`,
                        );
                    }
                }
            }
        });

        it("predicts the logits TensorFlow computes from our graph, equal to TensorFlow.js's", async () => {
            const images = imagesFromPixels(mnist.test.images.subarray(0, COUNT * PIXELS), COUNT);
            const served = await client().predict(images);
            const worst = Math.max(
                ...served.flatMap((row, i) => row.map((v, k) => Math.abs(v - local[i][k]))),
            );
            assert.ok(worst < LOGIT_TOLERANCE, `largest logit difference ${worst}`);
            const viaLabel = await client({ label: "stable" }).predictDigits(images.slice(0, 10), {
                signatureName: "probabilities",
            });
            viaLabel.forEach((d, i) => {
                const expected = softmax(local[i]);
                assert.strictEqual(d.digit, argMax(local[i]));
                assert.ok(
                    d.probabilities.every((p, k) => Math.abs(p - expected[k]) < 1e-4),
                    `image ${i}`,
                );
            });
        });

        it("answers unknown models, versions, labels, signatures and bad shapes with TF Serving's errors", async () => {
            const one = [imagesFromPixels(mnist.test.images.subarray(0, PIXELS))[0]];
            const expectHttp = async (
                call: Promise<unknown>,
                status: number,
                message: string | RegExp,
            ) => {
                const err = await call.then(
                    () => assert.fail("expected an HTTP error"),
                    (e: Error) => e,
                );
                assert.ok(err instanceof ServingHttpError, String(err));
                assert.strictEqual(err.status, status);
                assert.ok(err.fromTfServing);
                if (typeof message === "string") assert.strictEqual(err.serverMessage, message);
                else assert.match(err.serverMessage, message);
            };
            await expectHttp(
                client({ model: "nope" }).predict(one),
                404,
                "Servable not found for request: Latest(nope)",
            );
            await expectHttp(
                client({ version: 2 }).predict(one),
                404,
                "Servable not found for request: Specific(mymodel, 2)",
            );
            await expectHttp(
                client({ version: 2 }).status(),
                404,
                "Could not find version 2 of model mymodel",
            );
            await expectHttp(
                client({ label: "canary" }).status(),
                400,
                "Unrecognized servable version label: canary",
            );
            await expectHttp(
                client().predict(one, { signatureName: "nope" }),
                400,
                'Serving signature name: "nope" not found in signature def',
            );
            // A shape the client would refuse, sent raw: the error comes from TensorFlow itself.
            const response = await fetch(`${double.url}/v1/models/mymodel:predict`, {
                method: "POST",
                body: JSON.stringify({ instances: [[[1, 2]]] }),
            });
            assert.strictEqual(response.status, 400);
            const { message, fromTfServing } = parseErrorBody(await response.text());
            assert.ok(fromTfServing);
            assert.match(
                message,
                /^Input to reshape is a tensor with 2 values, but the requested shape requires a multiple of 784/,
            );
        });

        it("predict command: classifies image files and MNIST images as the local model does", async () => {
            const digit = (k: number) => mnist.test.images.subarray(k * PIXELS, (k + 1) * PIXELS);
            const files = [
                writeFile(dir, "scan.png", encodePng(grayToRgba(digit(0)), 0)),
                writeFile(
                    dir,
                    "photo.jpg",
                    encodeJpeg(renderDigit(digit(1), RENDERINGS.bluePenOnYellow), 80),
                ),
                writeFile(
                    dir,
                    "corner.jpg",
                    encodeJpeg(renderDigit(digit(2), RENDERINGS.markerInCorner), 80),
                ),
                writeFile(
                    dir,
                    "sticker.png",
                    encodePng(renderDigit(digit(3), RENDERINGS.redOnTransparent)),
                ),
            ];
            const converted = new Uint8Array(files.length * PIXELS);
            files.forEach((f, i) => converted.set(readMnistImage(f).pixels, i * PIXELS));
            const expected = logitsOf(model, converted, files.length).map(softmax);

            const json = await runCli("client/cli.ts", [
                "--url",
                double.url,
                "--json",
                "--mnist",
                String(COUNT),
                ...files,
            ]);
            assert.strictEqual(json.code, 0, json.stderr);
            const report = JSON.parse(json.stdout);
            report.predictions.forEach(
                (p: { file: string; digit: number; probabilities: number[] }, i: number) => {
                    assert.strictEqual(p.file, files[i]);
                    assert.strictEqual(p.digit, argMax(expected[i]), p.file);
                    assert.ok(
                        p.probabilities.every((v, k) => Math.abs(v - expected[i][k]) < 1e-4),
                        p.file,
                    );
                },
            );
            const wrong = local.flatMap((l, i) => (argMax(l) === mnist.test.labels[i] ? [] : [i]));
            assert.strictEqual(report.mnist.correct, COUNT - wrong.length);
            assert.deepStrictEqual(
                report.mnist.misclassified.map((m: { index: number }) => m.index),
                wrong,
            );

            const table = await runCli("client/cli.ts", ["--url", double.url, files[1]]);
            assert.strictEqual(table.code, 0, table.stderr);
            const [header, row] = table.stdout.trimEnd().split("\n");
            assert.match(header, /^file\s+digit\s+probability$/);
            const [file, d, p] = row.split(/\s+/);
            assert.deepStrictEqual([file, Number(d)], [files[1], argMax(expected[1])]);
            assert.ok(Math.abs(Number(p) - Math.max(...expected[1])) <= 1e-4 + 5e-5, row);
        });

        it("smoke fails with a readable diff against a model that disagrees", async () => {
            // The local model with class 0 favoured: it disagrees with the served one on some images.
            const skewed = await loadLayersModel(path.join(modelDir, MODEL_JSON));
            const last = skewed.layers[skewed.layers.length - 1];
            const [kernel, bias] = last.getWeights();
            last.setWeights([kernel, bias.add(tf.tensor1d([2.5, 0, 0, 0, 0, 0, 0, 0, 0, 0]))]);
            const skewedDir = fs.mkdtempSync(path.join(dir, "skewed-"));
            await saveLayersModel(skewed, skewedDir);
            const mine = logitsOf(skewed, mnist.test.images.subarray(0, COUNT * PIXELS), COUNT).map(
                argMax,
            );
            const differ = mine.flatMap((c, i) => (c === argMax(local[i]) ? [] : [i]));
            assert.ok(
                differ.length > 0 && differ.length < 50,
                `${differ.length} differences; pick another skew`,
            );

            const run = await runCli("client/smoke.ts", [
                "--url",
                double.url,
                "--model-dir",
                skewedDir,
            ]);
            const lines = failedSmokeLines(run);
            assert.match(
                lines[0],
                new RegExp(
                    `disagrees with the local model on ${differ.length} of 100 MNIST test images 0-99`,
                ),
            );
            assert.deepStrictEqual(lines[2].trim().split(/\s+/), [
                "index",
                "expected",
                "got",
                "label",
            ]);
            const rows = lines.slice(3).map((l) => l.trim().split(/\s+/).map(Number));
            assert.deepStrictEqual(
                rows,
                differ.map((i) => [i, mine[i], argMax(local[i]), mnist.test.labels[i]]),
            );
        });

        it("smoke times out clearly when the model it waits for is never served", async () => {
            const run = await runCli("client/smoke.ts", [
                "--url",
                double.url,
                "--model",
                "othermodel",
                "--wait",
                "2",
                "--model-dir",
                modelDir,
            ]);
            assert.strictEqual(run.code, 1);
            assert.match(
                run.stderr,
                /^error: model "othermodel" at .*\/v1\/models\/othermodel is not AVAILABLE after waiting 2000 ms \(\d+ polls\); last seen: .* returned HTTP 404: TF Serving says: Could not find any versions of model othermodel/,
            );
        });

        it("replayed the export's warmup requests before the version became AVAILABLE", () => {
            assert.match(
                double.log,
                /Finished reading warmup data for model at .*assets\.extra\/tf_serving_warmup_requests\. Number of warmup records read: 3\./,
            );
            const warmed = double.log.indexOf("Number of warmup records read");
            assert.ok(warmed < double.log.indexOf("Successfully loaded servable version"));
        });

        describe("over gRPC", () => {
            const grpc = (options: { model?: string; version?: number; label?: string } = {}) =>
                new TfServingGrpcClient({
                    target: double.grpcTarget as string,
                    timeoutMs: 30_000,
                    ...options,
                });
            const images = () =>
                imagesFromPixels(mnist.test.images.subarray(0, COUNT * PIXELS), COUNT);

            it("gives the same classes and logits as REST on 100 MNIST images, and the same status and signatures", async () => {
                const c = grpc();
                try {
                    const [overGrpc, overRest] = await Promise.all([
                        c.predict(images()),
                        client().predict(images()),
                    ]);
                    assert.deepStrictEqual(overGrpc.map(argMax), overRest.map(argMax));
                    assert.deepStrictEqual(overGrpc.map(argMax), local.map(argMax));
                    const worst = Math.max(
                        ...overGrpc.flatMap((row, i) =>
                            row.map((v, k) => Math.abs(v - overRest[i][k])),
                        ),
                    );
                    assert.ok(worst < 1e-6, `largest gRPC-REST logit difference ${worst}`);
                    assert.deepStrictEqual(await c.status(), await client().status());
                    assert.deepStrictEqual(await c.metadata(), await client().metadata());
                    const digits = await grpc({ label: "stable" }).predictDigits(
                        images().slice(0, 5),
                        { signatureName: "probabilities" },
                    );
                    assert.deepStrictEqual(
                        digits.map((d) => d.digit),
                        local.slice(0, 5).map(argMax),
                    );
                } finally {
                    c.close();
                }
            });

            it("raises the REST client's typed errors: server statuses, bad input unsent, no server", async () => {
                const one = images().slice(0, 1);
                const status = async (call: Promise<unknown>, code: string, message: RegExp) => {
                    const err = await call.then(
                        () => assert.fail("the call succeeded"),
                        (e: unknown) => e,
                    );
                    assert.ok(err instanceof ServingRpcError, String(err));
                    assert.strictEqual(err.codeName, code);
                    assert.match(err.serverMessage, message);
                };
                await status(
                    grpc({ model: "othermodel" }).predict(one),
                    "NOT_FOUND",
                    /Servable not found for request: Latest\(othermodel\)/,
                );
                await status(
                    grpc({ version: 7 }).status(),
                    "NOT_FOUND",
                    /Could not find version 7 of model mymodel/,
                );
                await status(
                    grpc({ label: "canary" }).metadata(),
                    "INVALID_ARGUMENT",
                    /Unrecognized servable version label: canary/,
                );
                await assert.rejects(
                    grpc().predict([[[0]]]),
                    (e: unknown) =>
                        e instanceof ServingInputError &&
                        e.attempts === 0 &&
                        /images\[0\]/.test(e.field),
                );
                await assert.rejects(
                    grpc().predict(one, { signatureName: "nope" }),
                    (e: unknown) => e instanceof ServingInputError && e.field === "signatureName",
                );
                assert.throws(
                    () => new TfServingGrpcClient({ target: "http://127.0.0.1:8500" }),
                    /`target` is "http:\/\/127.0.0.1:8500"; expected TF Serving's gRPC address as host:port/,
                );
                const closed = new TfServingGrpcClient({
                    target: "127.0.0.1:1",
                    retries: 1,
                    backoffMs: 10,
                });
                try {
                    await assert.rejects(
                        closed.status(),
                        (e: unknown) => e instanceof ServingConnectionError && e.attempts === 2,
                    );
                } finally {
                    closed.close();
                }
            });

            it("predict and smoke commands take --grpc and agree with REST", async () => {
                const overGrpc = await runCli("client/cli.ts", [
                    "--grpc",
                    double.grpcTarget as string,
                    "--mnist",
                    String(COUNT),
                ]);
                const overRest = await runCli("client/cli.ts", [
                    "--url",
                    double.url,
                    "--mnist",
                    String(COUNT),
                ]);
                assert.strictEqual(overGrpc.code, 0, overGrpc.stdout + overGrpc.stderr);
                const summary = (out: string) =>
                    /MNIST test images 0-99: (\d+)\/100 correct/.exec(out)?.[1];
                assert.strictEqual(summary(overGrpc.stdout), summary(overRest.stdout));
                assert.match(overGrpc.stdout, /\(grpc:\/\/127\.0\.0\.1:\d+\/mymodel\)/);
                const smoke = await runCli("client/smoke.ts", [
                    "--grpc",
                    double.grpcTarget as string,
                    "--model-dir",
                    modelDir,
                ]);
                assert.strictEqual(smoke.code, 0, smoke.stdout + smoke.stderr);
                assert.match(
                    smoke.stdout,
                    /smoke: OK: version 1 agrees with the local model on all 100/,
                );
                const both = await runCli("client/smoke.ts", [
                    "--url",
                    double.url,
                    "--grpc",
                    "127.0.0.1:8500",
                ]);
                assert.strictEqual(both.code, 2);
                assert.match(both.stderr, /expected one of the two/);
            });
        });
    });
});

/**
 * Registers the hooks of a suite that serves a brought model: `make(python, dir)` writes it under
 * the temp directory `dir` and gives its base directory, which the stand-in then serves; the
 * returned object holds both once the version is AVAILABLE.
 */
function servedBroughtModel(
    tmpPrefix: string,
    make: (python: string, dir: string) => string,
): { basePath: string; double: TfServingDouble } {
    const served = {} as { basePath: string; double: TfServingDouble };
    let dir: string | undefined;

    before(async function () {
        const python = venvPython();
        if (python === undefined) {
            if (process.env.CI === "true")
                throw new Error("CI=true requires .venv with TensorFlow");
            this.skip();
        }
        dir = fs.mkdtempSync(path.join(os.tmpdir(), tmpPrefix));
        served.basePath = make(python, dir);
        served.double = await TfServingDouble.start({ python, modelBasePath: served.basePath });
        await new TfServingClient({ url: served.double.url }).waitUntilAvailable({
            timeoutMs: 120_000,
            intervalMs: 500,
        });
    });

    after(async () => {
        await served.double?.stop();
        if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
    });
    return served;
}

describe("end to end: a brought Keras CNN with its own Rescaling, served by the stand-in on real TensorFlow", function () {
    const served = servedBroughtModel("tfk8s-e2e-keras-", (python, dir) => {
        const cnn = path.join(dir, "keras-cnn");
        console.log(`      ${makeKerasModel(python, ["cnn", defaultMnistDir(), cnn, "1"])}`);
        return cnn;
    });

    it("predict and smoke send the range --input-scale names: 0-255 right for it, 0-1 wrong", async () => {
        const accuracy = async (scale: string) => {
            const run = await runCli("client/cli.ts", [
                "--url",
                served.double.url,
                "--input-scale",
                scale,
                "--json",
                "--mnist",
                String(COUNT),
            ]);
            assert.strictEqual(run.code, 0, run.stdout + run.stderr);
            return JSON.parse(run.stdout).mnist.accuracy as number;
        };
        const [right, wrong] = [await accuracy("0-255"), await accuracy("0-1")];
        console.log(`      predict on MNIST 0-99: ${right} sent 0-255, ${wrong} sent 0-1`);
        assert.ok(right >= 0.85 && wrong <= 0.3, `0-255: ${right}, 0-1: ${wrong}`);
        // Smoke sends the served and the local model the same range: they agree either way, and
        // only the range the model takes passes the gate.
        const smoke = (scale: string) =>
            runCli("client/smoke.ts", [
                "--url",
                served.double.url,
                "--model-dir",
                path.join(served.basePath, "1"),
                "--input-scale",
                scale,
                "--min-accuracy",
                "0.85",
            ]);
        const passing = await smoke("0-255");
        assert.strictEqual(passing.code, 0, passing.stdout + passing.stderr);
        assert.match(passing.stdout, /sent pixels as 0-255/);
        assert.match(passing.stdout, /smoke: OK: version 1 agrees with the local model on all 100/);
        const failing = await smoke("0-1");
        assert.strictEqual(failing.code, 1, failing.stdout + failing.stderr);
        assert.match(
            failing.stdout,
            /smoke: FAILED: served accuracy 0\.\d{4} on MNIST test images 0-99 is below minAccuracy 0\.85 \(served accuracy 0\.\d{4} \(at least minAccuracy 0\.85\), local 0\.\d{4}/,
        );
        assert.doesNotMatch(failing.stdout, /disagrees/);
    });
});

describe("end to end: a brought SavedModel whose graph refuses 28x28 images at run time", function () {
    // A signature that takes any shape in front of a 1024-row kernel, as a model built for 32x32
    // images exported loosely (bench/bad_canaries.py's `failing`): the call fails in the MatMul,
    // and TensorFlow's Python wraps the runtime's message in lines of its own.
    const served = servedBroughtModel("tfk8s-e2e-32x32-", (python, dir) => {
        const script = [
            "import sys, tensorflow as tf",
            "m = tf.Module()",
            "m.kernel = tf.Variable(tf.zeros([1024, 10]))",
            "@tf.function(input_signature=[tf.TensorSpec(None, tf.float32)], autograph=False)",
            "def serve(images):",
            "    return {'scores': tf.matmul(tf.reshape(images, [tf.shape(images)[0], -1]), m.kernel)}",
            "tf.saved_model.save(m, sys.argv[1], signatures={'serving_default': serve})",
        ].join("\n");
        const made = spawnSync(python, ["-c", script, path.join(dir, "1")], { encoding: "utf8" });
        assert.strictEqual(made.status, 0, made.stderr);
        return dir;
    });

    it("answers 400 with the runtime's own message, as TF Serving's Session::Run returns it", async () => {
        const image = imagesFromPixels(new Uint8Array(PIXELS));
        const err = await new TfServingClient({ url: served.double.url }).predict(image).then(
            () => assert.fail("the predict succeeded"),
            (e: unknown) => e,
        );
        assert.ok(err instanceof ServingHttpError, String(err));
        assert.strictEqual(err.status, 400);
        assert.ok(err.fromTfServing);
        assert.match(
            err.serverMessage,
            /^Matrix size-incompatible: In\[0\]: \[1,784\], In\[1\]: \[1024,10\]\n\t \[\[\{\{node [^}]+\}\}\]\]$/,
        );
    });
});
