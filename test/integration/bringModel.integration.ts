/**
 * Bringing your own model through the real Pulumi engine: Keras models trained and exported by
 * Python TensorFlow, in TF Serving's base-directory layout, as the dev stack's `modelSource`. A
 * random-weight model fails `pulumi preview` before any resource; a trained one previews, its
 * evaluation cached, and `pulumi up` (render mode) exports `modelAccuracy` and `inputScale` and
 * annotates its pods; the production policy pack refuses it served unevaluated.
 *
 * Runs with the integration suite (`npm run test:integration`); needs `.venv` with TensorFlow too.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { defaultMnistDir } from "../../model/training/data";
import { makeKerasModel } from "../support/broughtModels";
import { RealStack, filesUnder, ok, realStackEnv } from "../support/realStack";
import { findTensorFlowPython } from "../support/venv";

describe("bringing your own model through the real engine: Keras exports as the dev stack's modelSource", function () {
    this.timeout(20 * 60 * 1000);
    let stack: RealStack;
    let models: { mlp: string; random: string };

    before(async function () {
        const env = realStackEnv();
        const found = findTensorFlowPython();
        const missing =
            typeof env === "string" ? env : found.python === undefined ? found.reason : undefined;
        if (missing !== undefined) {
            if (process.env.CI === "true") throw new Error(`cannot run: ${missing}`);
            console.log(`skipping the bring-your-own-model integration test: ${missing}`);
            this.skip();
        }
        stack = new RealStack(env as Exclude<typeof env, string>);
        models = {
            mlp: path.join(stack.work, "keras-mlp"),
            random: path.join(stack.work, "keras-random"),
        };
        for (const kind of ["mlp", "random"] as const) {
            const report = makeKerasModel(found.python as string, [
                kind,
                defaultMnistDir(),
                models[kind],
                "1",
            ]);
            console.log(`      ${report}`);
        }
        const baseImage = await stack.pushStandInBaseImage();
        stack.initStack("dev", baseImage, {
            from: "dev",
            set: { modelSource: models.random, minAccuracy: "0.88" },
        });
    });

    after(() => stack?.cleanUp());

    it("a random-weight model fails pulumi preview naming both accuracies, before any resource", () => {
        const r = stack.pulumi(["preview", "-s", "dev"]);
        const text = r.stdout + r.stderr;
        assert.notStrictEqual(r.status, 0, text);
        const refusal =
            /quality gate: model source \S+keras-random scores 0\.\d{4} sent pixels as 0-255 \(loss [\d.]+\), 0\.\d{4} sent pixels as 0-1 \(loss [\d.]+\) on the MNIST test set, both below minAccuracy 0\.88\. Nothing was created/;
        assert.match(text, refusal);
        console.log(`      ${refusal.exec(text)?.[0]}`);
        assert.doesNotMatch(text, /kubernetes:apps\/v1:Deployment|tfk8s:serving:ServingImage/);
    });

    it("a trained Keras MLP previews, and pulumi up reads its evaluation from the cache: modelAccuracy, inputScale, the annotation", () => {
        stack.setConfig("dev", { modelSource: models.mlp });
        const preview = ok(stack.pulumi(["preview", "-s", "dev"]), "pulumi preview");
        assert.match(preview, /\(evaluated now\); served as 0-1, at least minAccuracy 0\.88/);
        const figures = /test accuracy .* on 10000 MNIST test images/.exec(preview)?.[0];
        console.log(`      ${figures}`);
        const up = ok(stack.pulumi(["up", "-s", "dev", "--yes", "--skip-preview"]), "pulumi up");
        assert.match(up, /\(from the evaluation cache\); served as 0-1/);
        assert.doesNotMatch(up, /evaluated now/);
        const outputs = JSON.parse(
            ok(stack.pulumi(["stack", "output", "-s", "dev", "--json"]), "stack output"),
        );
        assert.strictEqual(outputs.inputScale, "0-1");
        assert.ok(outputs.modelAccuracy >= 0.88, String(outputs.modelAccuracy));
        const deployment = filesUnder(stack.rendered)
            .flatMap((f) => YAML.parseAllDocuments(fs.readFileSync(f, "utf8")))
            .map((d) => d.toJS())
            .find((d) => d?.kind === "Deployment");
        assert.strictEqual(
            deployment.spec.template.metadata.annotations["tfk8s.dev/model-accuracy"],
            outputs.modelAccuracy.toFixed(4),
        );
    });

    it("served unevaluated (skipModelEvaluation), the dev policies pass it and the production ones refuse it", () => {
        stack.setConfig("dev", { skipModelEvaluation: "true", inputScale: "0-1" });
        const dev = ok(
            stack.pulumi(["preview", "-s", "dev", ...stack.policyFlags("dev")]),
            "pulumi preview (dev policies)",
        );
        assert.match(dev, /is served unevaluated \(skipModelEvaluation\)/);
        const prod = stack.pulumi(["preview", "-s", "dev", ...stack.policyFlags("prod")]);
        const text = prod.stdout + prod.stderr;
        assert.notStrictEqual(prod.status, 0, text);
        assert.match(text, /model-evaluated-in-production/);
        assert.match(
            text,
            /the pods carry no tfk8s\.dev\/model-accuracy: their model was not evaluated/,
        );
    });
});
