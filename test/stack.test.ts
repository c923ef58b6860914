import { ofType, promiseOf, recorded, secretValue, single } from "./mocks";
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { trackBuildDirs } from "../buildLayout";
import { trackLabels } from "../components/servingPlan";
import { hashDirectory } from "../model/contentHash";
import { SettingError } from "../programErrors";
import { saveLayersModel } from "../model/training/artifact";
import { createModel } from "../model/training/model";
import { runProgram, stackFile } from "./support/stackProgram";

const HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler";
const PDB = "kubernetes:policy/v1:PodDisruptionBudget";
const DEPLOYMENT = "kubernetes:apps/v1:Deployment";
const NAMESPACE = "kubernetes:core/v1:Namespace";

/** Quick training settings so the program's real train-through-the-cache path runs in about a second. */
function quickTraining(cacheDir: string): Record<string, string> {
    return { epochs: "1", trainSubset: "1000", minAccuracy: "0.5", cacheDir, backend: "auto" };
}

describe("the stack program (index.ts) on Pulumi mocks", function () {
    this.timeout(120000);
    const cwd = process.cwd();
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "tfk8s-stack-"));
    const cacheDir = path.join(scratch, "cache");
    before(() => process.chdir(scratch));
    after(() => process.chdir(cwd));

    it("dev: trains through the cache, builds locally, NodePort 30111 in a namespace of its own, no HPA or PDB", async () => {
        const out = await runProgram({ ...stackFile("dev"), ...quickTraining(cacheDir) });
        assert.strictEqual(out.endpoint, "http://localhost:30111");
        assert.strictEqual(out.predictUrl, "http://localhost:30111/v1/models/mymodel:predict");
        assert.strictEqual(out.namespace, "tfk8s-dev");
        assert.strictEqual(out.serviceName, "mymodel-serving");
        assert.strictEqual(out.modelName, "mymodel");
        assert.strictEqual(out.modelVersion, 1);
        assert.ok(out.modelAccuracy >= 0.5 && out.modelAccuracy <= 1, String(out.modelAccuracy));
        const image = single("docker:index/image:Image").inputs;
        assert.strictEqual(image.skipPush, true);
        assert.match(image.imageName, /^mymodel-serving:v1-[0-9a-f]{12}$/);
        // The build context holds the exported SavedModel the program just wrote.
        const version = path.join(image.build.context, "models", "mymodel", "1");
        assert.ok(fs.existsSync(path.join(version, "saved_model.pb")));
        // With the warmup requests TF Serving replays at load (config warmup, on by default).
        assert.ok(fs.existsSync(path.join(version, "assets.extra", "tf_serving_warmup_requests")));
        const record = JSON.parse(
            fs.readFileSync(path.join(version, "assets.extra", "tfk8s-metadata.json"), "utf8"),
        );
        assert.strictEqual(record.training.testAccuracy, out.modelAccuracy);
        // No wall time: a retrain of the same recipe must give the same bytes and image.
        assert.ok(!("trainingSeconds" in record.training), "the record holds the training time");
        assert.deepStrictEqual(
            record.signatures.signatures.serving_default.inputs.images.shape,
            [-1, 28, 28],
        );
        const deployment = single(DEPLOYMENT).inputs;
        assert.strictEqual(deployment.spec.replicas, 1);
        assert.strictEqual(deployment.spec.template.spec.containers[0].image, image.imageName);
        assert.strictEqual(
            single("kubernetes:core/v1:Service").inputs.spec.ports[0].nodePort,
            30111,
        );
        assert.strictEqual(ofType(HPA).length, 0);
        assert.strictEqual(ofType(PDB).length, 0);
        assert.strictEqual(single(NAMESPACE).inputs.metadata.name, "tfk8s-dev");
        assert.strictEqual(deployment.metadata.namespace, "tfk8s-dev");
        assert.deepStrictEqual(recorded.map((r) => r.type).sort(), [
            "docker:index/image:Image",
            DEPLOYMENT,
            NAMESPACE,
            "kubernetes:core/v1:Service",
            "pulumi:providers:kubernetes",
            "tfk8s:serving:ModelService",
            "tfk8s:serving:ModelServing",
            "tfk8s:serving:ModelTrack",
            "tfk8s:serving:ServingImage",
        ]);
    });

    it("prod: pushes with a secret password, deploys the digest, an HPA from 4 replicas and a PDB", async () => {
        const out = await runProgram(
            { ...stackFile("prod"), registryPassword: "t0ken", ...quickTraining(cacheDir) },
            ["registryPassword"],
        );
        const image = single("docker:index/image:Image").inputs;
        assert.strictEqual(image.skipPush, false);
        assert.deepStrictEqual((secretValue(image.registry) as any).password, "t0ken");
        assert.match(out.imageDigest, /^ghcr\.io\/tfk8s\/mymodel-serving@sha256:[0-9a-f]{64}$/);
        const deployment = single(DEPLOYMENT).inputs;
        assert.strictEqual(deployment.spec.template.spec.containers[0].image, out.imageDigest);
        // The autoscaler owns the count, from a minimum of 4; the Deployment states none.
        assert.strictEqual(deployment.spec.replicas, undefined);
        assert.strictEqual(deployment.metadata.namespace, "ml-serving");
        assert.deepStrictEqual(
            [single(HPA).inputs.spec.minReplicas, single(HPA).inputs.spec.maxReplicas],
            [4, 10],
        );
        assert.strictEqual(single(PDB).inputs.spec.minAvailable, 2);
        assert.strictEqual(single("kubernetes:core/v1:Service").inputs.spec.type, "ClusterIP");
        // Production admits callers through a NetworkPolicy, in a namespace of its own where Pod
        // Security admission enforces the restricted standard.
        const netpol = single("kubernetes:networking.k8s.io/v1:NetworkPolicy").inputs;
        assert.strictEqual(netpol.metadata.namespace, "ml-serving");
        assert.deepStrictEqual(netpol.spec.ingress[0].from, [{ podSelector: {} }]);
        const namespace = single(NAMESPACE).inputs.metadata;
        assert.strictEqual(namespace.name, "ml-serving");
        assert.strictEqual(namespace.labels["pod-security.kubernetes.io/enforce"], "restricted");
        assert.strictEqual(
            out.endpoint,
            "http://mymodel-serving.ml-serving.svc.cluster.local:8501",
        );
        // No stack output carries the password.
        assert.ok(!JSON.stringify(out).includes("t0ken"));
    });

    it("prod: the rollout's step (a canary at 25%) keeps the autoscaler and the budget", async () => {
        await runProgram(
            {
                ...stackFile("prod"),
                registryPassword: "t0ken",
                canaryVersion: "2",
                canaryWeight: "25",
                ...quickTraining(cacheDir),
            },
            ["registryPassword"],
        );
        const replicas = recorded
            .filter((r) => r.type === DEPLOYMENT)
            .map((r) => [r.inputs.metadata.name, r.inputs.spec.replicas]);
        // The stable track's count is the autoscaler's, from its share (3 of 4); the canary's is 1.
        assert.deepStrictEqual(replicas, [
            ["mymodel-serving", undefined],
            ["mymodel-serving-canary", 1],
        ]);
        assert.strictEqual(single(HPA).inputs.spec.minReplicas, 3);
        assert.deepStrictEqual(
            recorded.filter((r) => r.type === PDB).map((r) => r.inputs.spec),
            [
                { minAvailable: 2, selector: { matchLabels: trackLabels("mymodel", "stable") } },
                { maxUnavailable: 1, selector: { matchLabels: trackLabels("mymodel", "canary") } },
            ],
        );
    });

    it("render mode: points the provider at the directory and skips readiness waits", async () => {
        const renderDir = path.join(scratch, "rendered");
        await runProgram({ ...stackFile("dev"), renderDir, ...quickTraining(cacheDir) });
        assert.strictEqual(
            single("pulumi:providers:kubernetes").inputs.renderYamlToDirectory,
            renderDir,
        );
        // An empty kubeconfig passes the provider's check, which refuses $KUBECONFIG's value
        // (the SDK's default) next to renderYamlToDirectory.
        assert.strictEqual(single("pulumi:providers:kubernetes").inputs.kubeconfig, "");
        assert.strictEqual(
            single(DEPLOYMENT).inputs.metadata.annotations["pulumi.com/skipAwait"],
            "true",
        );
        assert.strictEqual(ofType("kubernetes:core/v1:Secret").length, 0);
    });

    it("puts a loaded tfjs model of random weights through the quality gate: refused before any resource", async () => {
        const dir = path.join(scratch, "tfjs");
        fs.mkdirSync(dir);
        await saveLayersModel(createModel({ seed: 1 }), dir);
        await assert.rejects(
            runProgram({
                ...stackFile("dev"),
                cacheDir,
                modelSource: path.join(dir, "model.json"),
            }),
            /^Error: quality gate: model source .*tfjs\/model\.json scores 0\.\d{4} sent pixels as 0-255 \(loss [\d.]+\), 0\.\d{4} sent pixels as 0-1 \(loss [\d.]+\) on the MNIST test set, both below minAccuracy 0\.97\. Nothing was created/,
        );
        assert.strictEqual(recorded.length, 0);
    });

    it("stops on a model source that does not exist, before any resource", async () => {
        await assert.rejects(
            runProgram({ ...stackFile("dev"), modelSource: path.join(scratch, "nope") }),
            /model source .*nope does not exist/,
        );
        assert.strictEqual(recorded.length, 0);
    });

    it("fails on bad config before registering any resource", async () => {
        // Reported as the message alone: a ResourceError whose stack Pulumi hides.
        await assert.rejects(runProgram({ ...stackFile("dev"), replicas: "0" }), (err: Error) => {
            assert.ok(err instanceof SettingError, `${err.constructor.name}: ${err.message}`);
            assert.strictEqual(err.hideStack, true);
            assert.match(err.message, /^config `tfk8s:replicas` is "0"/);
            return true;
        });
        assert.strictEqual(recorded.length, 0);
        await assert.rejects(
            runProgram({ ...stackFile("dev"), canaryVersion: "2", canaryWeight: "150" }),
            /`tfk8s:canaryWeight` is "150"; expected an integer in 0-100/,
        );
        assert.strictEqual(recorded.length, 0);
    });

    it("gpu: the image builds on the -gpu base and every pod holds the GPUs on a GPU node", async () => {
        await runProgram({
            ...stackFile("dev"),
            ...quickTraining(cacheDir),
            gpu: "1",
            gpuNodeSelector: "cloud.google.com/gke-accelerator=nvidia-l4",
        });
        const context = single("docker:index/image:Image").inputs.build.context;
        const dockerfile = fs.readFileSync(path.join(context, "Dockerfile"), "utf8");
        assert.match(dockerfile, /^FROM tensorflow\/serving:2\.20\.0-gpu$/m);
        const pod = single(DEPLOYMENT).inputs.spec.template;
        assert.strictEqual(pod.spec.containers[0].resources.limits["nvidia.com/gpu"], "1");
        assert.deepStrictEqual(pod.spec.nodeSelector, {
            "cloud.google.com/gke-accelerator": "nvidia-l4",
        });
        assert.deepStrictEqual(pod.spec.tolerations, [
            { key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" },
        ]);
        assert.strictEqual(
            pod.metadata.annotations["tfk8s.dev/base-image"],
            "tensorflow/serving:2.20.0-gpu",
        );
    });

    it("build once, promote: a second checkout given dev's export builds prod's image from the same context, without training", async () => {
        const dev = await runProgram({ ...stackFile("dev"), ...quickTraining(cacheDir) });
        const devImage = single("docker:index/image:Image").inputs;
        const exported = path.join(trackBuildDirs("test", "stable").exportDir, "mymodel", "1");

        // The deploy workflow's prod job: a fresh checkout, the artifact downloaded into it.
        const second = fs.mkdtempSync(path.join(os.tmpdir(), "tfk8s-second-checkout-"));
        const artifact = path.join(second, "from-dev", "mymodel", "1");
        fs.cpSync(exported, artifact, { recursive: true });
        const emptyCache = path.join(second, "cache");
        try {
            process.chdir(second);
            const prod = await runProgram(
                {
                    ...stackFile("prod"),
                    registryPassword: "t0ken",
                    ...quickTraining(emptyCache),
                    modelSource: artifact,
                },
                ["registryPassword"],
            );
            const prodImage = single("docker:index/image:Image").inputs;
            const tag = (name: string) => name.slice(name.lastIndexOf(":") + 1);
            assert.match(tag(devImage.imageName), /^v1-[0-9a-f]{12}$/);
            assert.strictEqual(tag(prodImage.imageName), tag(devImage.imageName));
            assert.strictEqual(
                hashDirectory(path.resolve(second, prodImage.build.context)),
                hashDirectory(path.resolve(scratch, devImage.build.context)),
            );
            // Nothing was trained: the cache holds the loaded model's evaluation only.
            assert.deepStrictEqual(fs.readdirSync(emptyCache), ["evaluations"]);
            // Evaluated again as TensorFlow serves it: within 5 of the 10,000 test images of
            // dev's figure, which tfjs computed (rounding differs between the two on near ties).
            assert.ok(
                Math.abs(prod.modelAccuracy - dev.modelAccuracy) <= 0.0005,
                `prod ${prod.modelAccuracy}, dev ${dev.modelAccuracy}`,
            );
            assert.strictEqual(prod.inputScale, "0-255");
        } finally {
            process.chdir(scratch);
            fs.rmSync(second, { recursive: true, force: true });
        }
    });

    it("a canary: its own model trained and exported, its own image, a quarter of the pods", async () => {
        const out = await runProgram({
            ...stackFile("dev"),
            ...quickTraining(cacheDir),
            replicas: "4",
            canaryVersion: "2",
            canaryWeight: "25",
            canarySeed: "7",
        });
        const images = ofType("docker:index/image:Image").map((r) => r.inputs);
        assert.strictEqual(images.length, 2);
        const [stable, canary] = ["1", "2"].map((v) => {
            const image = images.find((i) => i.imageName.startsWith(`mymodel-serving:v${v}-`));
            assert.ok(image !== undefined, `no image of version ${v}`);
            return image;
        });
        // Each context holds only its own version, exported from its own model.
        const versions = (i: any) =>
            fs.readdirSync(path.join(i.build.context, "models", "mymodel"));
        assert.deepStrictEqual([versions(stable), versions(canary)], [["1"], ["2"]]);
        // The export holds the weights in its graph: another seed, other bytes.
        const graph = (i: any, v: string) =>
            fs.readFileSync(path.join(i.build.context, "models", "mymodel", v, "saved_model.pb"));
        assert.ok(!graph(stable, "1").equals(graph(canary, "2")), "seed 7 gave the same graph");
        const deployments = ofType(DEPLOYMENT).map((r) => r.inputs);
        assert.deepStrictEqual(
            deployments
                .map((d) => [
                    d.metadata.name,
                    d.spec.replicas,
                    d.spec.template.spec.containers[0].image,
                ])
                .sort(),
            [
                ["mymodel-serving", 3, stable.imageName],
                ["mymodel-serving-canary", 1, canary.imageName],
            ],
        );
        assert.deepStrictEqual(out.replicasByTrack, { stable: 3, canary: 1 });
        assert.strictEqual(out.canary.modelVersion, 2);
        assert.strictEqual(out.canary.weight, 25);
        assert.ok(out.canary.modelAccuracy >= 0.5, String(out.canary.modelAccuracy));
        assert.strictEqual(await promiseOf(out.canary.serviceName), "mymodel-serving-canary");
        assert.strictEqual(await promiseOf(out.canary.stableServiceName), "mymodel-serving-stable");
        // Each track's Service on its own cluster IP, and its export where the smoke check looks.
        const urls = await Promise.all(
            [out.canary.stableServiceUrl, out.canary.serviceUrl].map((u) => promiseOf<string>(u)),
        );
        for (const url of urls) assert.match(url, /^http:\/\/10\.96\.0\.\d+:8501$/);
        assert.notStrictEqual(urls[0], urls[1]);
        for (const [track, v] of [
            ["stable", "1"],
            ["canary", "2"],
        ] as const) {
            const exported = path.join(trackBuildDirs("test", track).exportDir, "mymodel", v);
            assert.ok(
                fs
                    .readFileSync(path.join(exported, "saved_model.pb"))
                    .equals(track === "stable" ? graph(stable, v) : graph(canary, v)),
                `${exported} is not what the ${track} image was built from`,
            );
        }
    });
});
