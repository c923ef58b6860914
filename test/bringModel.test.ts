import { ofType, recorded, single } from "./mocks";
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { localLogits } from "../client/localModel";
import { argMax } from "../client/scores";
import { MODEL_ACCURACY_ANNOTATION } from "../components/servingPlan";
import { EVALUATIONS_DIR } from "../model/sources/evaluationCache";
import { loadMnist, takeSplit } from "../model/training/data";
import { BroughtModels, makeBroughtModels } from "./support/broughtModels";
import { runProgram, stackFile } from "./support/stackProgram";
import { findTensorFlowPython } from "./support/venv";

const DEPLOYMENT = "kubernetes:apps/v1:Deployment";
const IMAGE = "docker:index/image:Image";
/** Below what the Keras models reach (about 0.91-0.92), far above a random model's 0.1. */
const MIN_ACCURACY = "0.88";

/** The one evaluation file of the cache, and its identity (inode and mtime). */
function evaluationFile(cacheDir: string): { file: string; identity: string } {
    const root = path.join(cacheDir, EVALUATIONS_DIR);
    const entries = fs.readdirSync(root).filter((e) => !e.startsWith("."));
    assert.strictEqual(entries.length, 1, `entries: ${entries.join(", ")}`);
    const file = path.join(root, entries[0], "evaluation.json");
    const stat = fs.statSync(file);
    return { file, identity: `${stat.ino}:${stat.mtimeMs}` };
}

describe("bringing your own model: models trained elsewhere through preview (index.ts on Pulumi mocks)", function () {
    this.timeout(180000);
    const cwd = process.cwd();
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "tfk8s-bring-"));
    let models: BroughtModels;
    /** What the program logged through the engine, since the last `reset`. */
    let logged: string[] = [];
    const info = pulumi.log.info;

    before(async function () {
        // Keras makes the models: in CI a missing .venv fails the suite, elsewhere the tests
        // show as pending, not passing.
        const found = findTensorFlowPython();
        if (found.python === undefined) {
            if (process.env.CI === "true") throw new Error(`no TensorFlow Python: ${found.reason}`);
            this.skip();
        }
        models = await makeBroughtModels(scratch, found.python, (line) =>
            console.log(`      ${line}`),
        );
        process.chdir(scratch);
        (pulumi.log as { info: typeof info }).info = async (message: string) => {
            logged.push(message);
        };
    });
    after(() => {
        (pulumi.log as { info: typeof info }).info = info;
        process.chdir(cwd);
    });

    /** A dev stack serving `modelSource` with its own evaluation cache; prints what it logged. */
    async function preview(name: string, config: Record<string, string>) {
        logged = [];
        const cacheDir = path.join(scratch, `cache-${name}`);
        try {
            return {
                cacheDir,
                out: await runProgram({
                    ...stackFile("dev"),
                    cacheDir,
                    minAccuracy: MIN_ACCURACY,
                    ...config,
                }),
            };
        } finally {
            for (const line of logged) console.log(`      ${line}`);
        }
    }

    it("a Keras MLP export in TF Serving's base-directory layout: version 1 served as 0-1, modelAccuracy and its pod annotation", async () => {
        const { out } = await preview("mlp", { modelSource: models.mlp });
        assert.strictEqual(out.inputScale, "0-1");
        assert.ok(out.modelAccuracy >= 0.88 && out.modelAccuracy < 1, String(out.modelAccuracy));
        const pod = single(DEPLOYMENT).inputs.spec.template;
        assert.strictEqual(
            pod.metadata.annotations[MODEL_ACCURACY_ANNOTATION],
            out.modelAccuracy.toFixed(4),
        );
        // The image carries version 1 of the base directory, byte for byte.
        const context = single(IMAGE).inputs.build.context;
        assert.ok(
            fs
                .readFileSync(path.join(context, "models", "mymodel", "1", "saved_model.pb"))
                .equals(fs.readFileSync(path.join(models.mlp, "1", "saved_model.pb"))),
        );
        // Both figures logged: the range it was trained on is served, with the lower loss.
        assert.match(
            logged.join("\n"),
            /test accuracy 0\.\d{4} sent pixels as 0-255 \(loss [\d.]+\), 0\.\d{4} sent pixels as 0-1 \(loss [\d.]+\) on 10000 MNIST test images \(evaluated now\); served as 0-1, at least minAccuracy 0\.88/,
        );
    });

    it("a second preview of the unchanged model reads its evaluation from the cache instead of evaluating it", async () => {
        const first = await preview("twice", { modelSource: models.mlp });
        const entry = evaluationFile(first.cacheDir);
        assert.match(logged.join("\n"), /\(evaluated now\)/);
        const second = await preview("twice", { modelSource: models.mlp });
        assert.match(logged.join("\n"), /\(from the evaluation cache\)/);
        assert.doesNotMatch(logged.join("\n"), /evaluated now/);
        assert.deepStrictEqual(evaluationFile(second.cacheDir), entry);
        assert.strictEqual(second.out.modelAccuracy, first.out.modelAccuracy);
    });

    it("a base directory of several versions deploys the one modelVersion names; a missing version fails naming those there", async () => {
        // Version 1 has random weights, version 2 is the Keras CNN with its own Rescaling.
        const base = path.join(scratch, "versions");
        fs.cpSync(path.join(models.random, "1"), path.join(base, "1"), { recursive: true });
        fs.cpSync(path.join(models.cnn, "1"), path.join(base, "2"), { recursive: true });
        const { out } = await preview("versions", { modelSource: base, modelVersion: "2" });
        assert.strictEqual(out.modelVersion, 2);
        assert.strictEqual(out.inputScale, "0-255");
        assert.ok(out.modelAccuracy >= 0.88, String(out.modelAccuracy));
        const context = single(IMAGE).inputs.build.context;
        assert.deepStrictEqual(fs.readdirSync(path.join(context, "models", "mymodel")), ["2"]);
        assert.ok(
            fs
                .readFileSync(path.join(context, "models", "mymodel", "2", "saved_model.pb"))
                .equals(fs.readFileSync(path.join(models.cnn, "1", "saved_model.pb"))),
        );
        // Its own Rescaling: sent 0-1 it sees nearly black images, and fails.
        assert.match(
            logged.join("\n"),
            /0\.\d{4} sent pixels as 0-1 \(loss [\d.]+\) .*served as 0-255/,
        );
        await assert.rejects(
            preview("versions", { modelSource: base, modelVersion: "3" }),
            /model source .*versions is a model base directory holding versions 1, 2, but the version to serve is 3; expected modelVersion/,
        );
        assert.strictEqual(recorded.length, 0);
    });

    it("a model of random weights is refused at preview, both accuracies named, before any resource", async () => {
        await assert.rejects(preview("random", { modelSource: models.random }), (err: Error) => {
            console.log(`      refused: ${err.message}`);
            assert.match(
                err.message,
                /^quality gate: model source .*keras-random scores 0\.\d{4} sent pixels as 0-255 \(loss [\d.]+\), 0\.\d{4} sent pixels as 0-1 \(loss [\d.]+\) on the MNIST test set, both below minAccuracy 0\.88\. Nothing was created/,
            );
            return true;
        });
        assert.strictEqual(recorded.length, 0);
        // Named explicitly, the range is gated alone, and the message says what to change.
        await assert.rejects(
            preview("random", { modelSource: models.random, inputScale: "0-1" }),
            /inputScale 0-1 gives 0\.\d{4}, below minAccuracy 0\.88\. Nothing was created; expected a better model, another inputScale/,
        );
        assert.strictEqual(ofType(DEPLOYMENT).length, 0);
    });

    it("a tfjs model of other layers, with weights trained by Keras: converted, then gated as served (0-255)", async () => {
        const keras = await preview("mlp-again", { modelSource: models.mlp });
        const { out } = await preview("tfjs", { modelSource: models.tfjs });
        // Our converter puts the 1/255 scaling in the graph, so the served model takes 0-255 and
        // scores what the Keras model scores on 0-1, within 2 of the 10,000 images.
        assert.strictEqual(out.inputScale, "0-255");
        assert.ok(
            Math.abs(out.modelAccuracy - keras.out.modelAccuracy) <= 0.0002,
            `tfjs ${out.modelAccuracy}, keras ${keras.out.modelAccuracy}`,
        );
        assert.strictEqual(
            single(DEPLOYMENT).inputs.spec.template.metadata.annotations[MODEL_ACCURACY_ANNOTATION],
            out.modelAccuracy.toFixed(4),
        );
    });

    it("smoke's local model is sent pixels as the served one takes them (the CNN: 0-255 right, 0-1 not)", async () => {
        const sample = takeSplit(loadMnist().test, 100);
        const accuracy = async (scale: "0-255" | "0-1") => {
            const rows = await localLogits(
                undefined,
                path.join(models.cnn, "1"),
                sample.images,
                sample.count,
                () => undefined,
                scale,
            );
            return rows.filter((row, i) => argMax(row) === sample.labels[i]).length / 100;
        };
        const [right, wrong] = [await accuracy("0-255"), await accuracy("0-1")];
        console.log(`      CNN on MNIST test images 0-99: ${right} sent 0-255, ${wrong} sent 0-1`);
        assert.ok(right >= 0.88 && wrong <= 0.3, `0-255: ${right}, 0-1: ${wrong}`);
    });

    it("a canary whose model takes other pixels than the stable one's is refused before any resource", async () => {
        // The canary serves version 2, so its base directory holds a 2.
        const canaryBase = path.join(scratch, "canary-cnn");
        fs.cpSync(path.join(models.cnn, "1"), path.join(canaryBase, "2"), { recursive: true });
        await assert.rejects(
            preview("mixed", {
                modelSource: models.mlp,
                canaryModelSource: canaryBase,
                canaryVersion: "2",
                canaryWeight: "25",
                replicas: "4",
            }),
            /the canary's model takes pixels as 0-255 but the stable one as 0-1; expected one range behind the one endpoint/,
        );
        assert.strictEqual(recorded.length, 0);
    });

    it("skipModelEvaluation serves a model unevaluated: no gate, no modelAccuracy nor annotation, the named inputScale", async () => {
        const { out, cacheDir } = await preview("skipped", {
            modelSource: models.random,
            skipModelEvaluation: "true",
            inputScale: "0-1",
        });
        assert.strictEqual(out.modelAccuracy, undefined);
        assert.strictEqual(out.inputScale, "0-1");
        const pod = single(DEPLOYMENT).inputs.spec.template;
        assert.strictEqual(pod.metadata.annotations[MODEL_ACCURACY_ANNOTATION], undefined);
        assert.ok(!fs.existsSync(cacheDir), "the model was evaluated");
        assert.match(logged.join("\n"), /is served unevaluated \(skipModelEvaluation\)/);
    });
});
