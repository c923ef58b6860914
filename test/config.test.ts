import { setStackConfig } from "./mocks";
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { loadStackConfig } from "../config";
import { CONFIG_KEYS } from "../configKeys";
import { LoadedModelCheck } from "../model/sources/resolve";

/** The smallest valid config: a local cluster, nothing pushed. */
const DEV = { skipPush: "true" };

function expectError(
    config: Record<string, string>,
    message: RegExp,
    secretKeys: string[] = [],
): void {
    setStackConfig(config, secretKeys);
    assert.throws(() => loadStackConfig(), message);
}

describe("stack config", () => {
    it("applies the documented defaults", () => {
        setStackConfig(DEV);
        const c = loadStackConfig();
        assert.deepStrictEqual(c.model, {
            name: "mymodel",
            version: 1,
            source: {
                kind: "train",
                training: {
                    dataDir: undefined,
                    cacheDir: ".model-cache",
                    epochs: 5,
                    batchSize: 32,
                    seed: 42,
                    learningRate: 0.001,
                    trainSubset: undefined,
                    minAccuracy: 0.97,
                    backend: undefined,
                    trainer: undefined,
                },
            },
            warmupBatchSizes: [1, 8, 100],
        });
        assert.strictEqual(c.serving.serviceType, "NodePort");
        assert.strictEqual(c.serving.nodePort, 30111);
        assert.strictEqual(c.serving.nodeHost, "localhost");
        assert.strictEqual(c.serving.replicas, 1);
        assert.strictEqual(c.serving.namespace, "default");
        // The sizes Pulumi.yaml documents as each key's default.
        const declared = YAML.parse(
            fs.readFileSync(path.join(__dirname, "..", "Pulumi.yaml"), "utf8"),
        ).config;
        const sizes = Object.keys(c.serving.resources ?? {});
        assert.strictEqual(sizes.length, 6);
        assert.deepStrictEqual(
            c.serving.resources,
            Object.fromEntries(sizes.map((key) => [key, declared[key].default])),
        );
        assert.strictEqual(c.serving.resources?.memoryLimit, "512Mi");
        assert.strictEqual(c.serving.createNamespace, false);
        assert.strictEqual(c.serving.networkAccess, undefined);
        assert.strictEqual(c.serving.skipAwait, false);
        assert.strictEqual(c.image.baseImage, "tensorflow/serving:2.20.0");
        assert.strictEqual(c.image.platform, "linux/amd64");
        assert.strictEqual(c.image.repository, "mymodel-serving");
        assert.strictEqual(c.serving.autoscaling, undefined);
    });

    it("reads a NetworkPolicy's callers: namespaces by name, pods by labels", () => {
        setStackConfig({
            ...DEV,
            networkPolicy: "true",
            allowFromNamespaces: "web, batch",
            allowFromPods: "app.kubernetes.io/name=frontend,tier=",
        });
        assert.deepStrictEqual(loadStackConfig().serving.networkAccess, {
            fromNamespaces: ["web", "batch"],
            fromPods: { "app.kubernetes.io/name": "frontend", tier: "" },
        });
        setStackConfig({ ...DEV, networkPolicy: "true" });
        assert.deepStrictEqual(loadStackConfig().serving.networkAccess, {
            fromNamespaces: [],
            fromPods: {},
        });
    });

    it("never waits for readiness in render mode", () => {
        setStackConfig({ ...DEV, renderDir: "manifests" });
        const c = loadStackConfig();
        assert.strictEqual(c.cluster.renderDir, "manifests");
        assert.strictEqual(c.serving.skipAwait, true);
    });

    it("reads a registry with a secret password and puts the repository on it", () => {
        setStackConfig(
            { registryServer: "ghcr.io", registryUsername: "bot", registryPassword: "s3cret" },
            ["registryPassword"],
        );
        const c = loadStackConfig();
        assert.strictEqual(c.image.registry?.server, "ghcr.io");
        assert.strictEqual(c.image.repository, "ghcr.io/mymodel-serving");
    });

    it("takes any other model source as a path to package, checked with the training's gate", () => {
        setStackConfig({ ...DEV, modelSource: "exports/mymodel/1", minAccuracy: "0.9" });
        assert.deepStrictEqual(loadStackConfig().model.source, {
            kind: "path",
            path: "exports/mymodel/1",
            check: {
                minAccuracy: 0.9,
                cacheDir: ".model-cache",
                dataDir: undefined,
                inputScale: undefined,
                skipEvaluation: false,
            },
        });
        // Training keys are still checked, so a typo does not wait for a switch back to train.
        expectError(
            { ...DEV, modelSource: "exports/mymodel/1", epochs: "0" },
            /`tfk8s:epochs` is "0"; expected an integer >= 1/,
        );
    });

    it("inputScale and skipModelEvaluation: a range named, or found out unless evaluation is skipped", () => {
        setStackConfig({ ...DEV, modelSource: "m", inputScale: "0-1" });
        const named = loadStackConfig().model.source as { check: LoadedModelCheck };
        assert.strictEqual(named.check.inputScale, "0-1");
        setStackConfig({
            ...DEV,
            modelSource: "m",
            inputScale: "0-255",
            skipModelEvaluation: "true",
        });
        const skipped = loadStackConfig().model.source as { check: LoadedModelCheck };
        assert.deepStrictEqual(
            [skipped.check.inputScale, skipped.check.skipEvaluation],
            ["0-255", true],
        );
        expectError(
            { ...DEV, modelSource: "m", inputScale: "255" },
            /config `tfk8s:inputScale` is "255"; expected 0-255 or 0-1, or unset to find it out$/,
        );
        expectError(
            { ...DEV, modelSource: "m", skipModelEvaluation: "true" },
            /config `tfk8s:inputScale` is undefined; expected 0-255 or 0-1 with skipModelEvaluation: without an evaluation nothing finds out/,
        );
        expectError(
            { ...DEV, inputScale: "0-1" },
            /config `tfk8s:inputScale` is "0-1"; expected 0-255 or unset: a model trained here takes 0-255/,
        );
    });

    const bad: Array<[string, Record<string, string>, RegExp, string[]?]> = [
        ["replicas < 1", { replicas: "0" }, /`tfk8s:replicas` is "0"; expected an integer >= 1/],
        [
            "replicas not a number",
            { replicas: "three" },
            /`tfk8s:replicas` is "three"; expected an integer >= 1/,
        ],
        ["a fractional replica count", { replicas: "1.5" }, /`tfk8s:replicas` is "1.5"/],
        [
            "nodePort below the range",
            { nodePort: "8080" },
            /`tfk8s:nodePort` is "8080"; expected an integer in 30000-32767/,
        ],
        ["nodePort above the range", { nodePort: "32768" }, /`tfk8s:nodePort` is "32768"/],
        [
            "nodePort on a ClusterIP service",
            { serviceType: "ClusterIP", nodePort: "30111" },
            /`tfk8s:nodePort` is 30111; expected no nodePort with serviceType ClusterIP/,
        ],
        [
            "an unknown service type",
            { serviceType: "Ingress" },
            /`tfk8s:serviceType` is "Ingress"; expected one of NodePort, ClusterIP, LoadBalancer/,
        ],
        [
            "a model name with a colon",
            { modelName: "my:model" },
            /`tfk8s:modelName` is "my:model"; expected letters, digits/,
        ],
        ["a model name with a slash", { modelName: "a/b" }, /`tfk8s:modelName` is "a\/b"/],
        ["an empty-looking model name", { modelName: "-x" }, /`tfk8s:modelName` is "-x"/],
        [
            "version 0",
            { modelVersion: "0" },
            /`tfk8s:modelVersion` is "0"; expected an integer >= 1/,
        ],
        [
            "a version that is not an integer",
            { modelVersion: "v2" },
            /`tfk8s:modelVersion` is "v2"/,
        ],
        [
            "minAccuracy 0",
            { minAccuracy: "0" },
            /`tfk8s:minAccuracy` is "0"; expected a decimal in \(0, 1\]/,
        ],
        ["minAccuracy above 1", { minAccuracy: "97" }, /`tfk8s:minAccuracy` is "97"/],
        ["minAccuracy not a number", { minAccuracy: "high" }, /`tfk8s:minAccuracy` is "high"/],
        [
            "a CPU request that is no quantity",
            { cpuRequest: "half" },
            /`tfk8s:cpuRequest` is "half"; expected a Kubernetes quantity/,
        ],
        [
            "a memory limit in a made-up unit",
            { memoryLimit: "512MB" },
            /`tfk8s:memoryLimit` is "512MB"/,
        ],
        [
            "a boolean that is not one",
            { enableBatching: "yes" },
            /`tfk8s:enableBatching` is "yes"; expected true or false/,
        ],
        [
            "an unknown backend",
            { backend: "gpu" },
            /`tfk8s:backend` is "gpu"; expected one of auto, tensorflow, wasm, cpu/,
        ],
        [
            "an unknown trainer",
            { trainer: "keras" },
            /`tfk8s:trainer` is "keras"; expected one of auto, graph, layers/,
        ],
        [
            "a PDB as large as the replica count",
            { replicas: "2", pdbMinAvailable: "2" },
            /`tfk8s:pdbMinAvailable` is 2; expected fewer than replicas \(2\)/,
        ],
        [
            "a scale-down window out of range",
            { autoscaleMaxReplicas: "3", autoscaleScaleDownWindowSeconds: "7200" },
            /`tfk8s:autoscaleScaleDownWindowSeconds` is "7200"; expected an integer in 0-3600/,
        ],
        [
            "an HPA maximum below replicas",
            { replicas: "3", autoscaleMaxReplicas: "2" },
            /`tfk8s:autoscaleMaxReplicas` is 2; expected at least replicas \(3\)/,
        ],
        [
            "a CPU request above its limit",
            { cpuRequest: "1500m", cpuLimit: "1" },
            /`tfk8s:cpuRequest` is "1500m"; expected at most cpuLimit \(1\)/,
        ],
        [
            "a memory request above its limit, in other units",
            { memoryRequest: "1G", memoryLimit: "900Mi" },
            /`tfk8s:memoryRequest` is "1G"; expected at most memoryLimit \(900Mi\)/,
        ],
        [
            "a disk request above its limit",
            { ephemeralStorageRequest: "1Gi", ephemeralStorageLimit: "256Mi" },
            /`tfk8s:ephemeralStorageRequest` is "1Gi"; expected at most ephemeralStorageLimit \(256Mi\)/,
        ],
        [
            "a disk limit that is no quantity",
            { ephemeralStorageLimit: "1 GB" },
            /`tfk8s:ephemeralStorageLimit` is "1 GB"; expected a Kubernetes quantity/,
        ],
        [
            "creating the default namespace",
            { createNamespace: "true" },
            /`tfk8s:namespace` is "default"; expected a namespace of the model's own/,
        ],
        [
            "creating kube-system",
            { createNamespace: "true", namespace: "kube-system" },
            /`tfk8s:namespace` is "kube-system"; expected a namespace of the model's own/,
        ],
        [
            "callers without a NetworkPolicy",
            { allowFromNamespaces: "web" },
            /`tfk8s:allowFromNamespaces` is "web"; expected networkPolicy: true/,
        ],
        [
            "pod labels without a NetworkPolicy",
            { allowFromPods: "app=web" },
            /`tfk8s:allowFromPods` is "app=web"; expected networkPolicy: true/,
        ],
        [
            "a caller namespace that is no name",
            { networkPolicy: "true", allowFromNamespaces: "web,Batch_Jobs" },
            /`tfk8s:allowFromNamespaces` is "web,Batch_Jobs"; expected comma-separated namespace names \("Batch_Jobs" is not/,
        ],
        [
            "pod labels without a value",
            { networkPolicy: "true", allowFromPods: "app" },
            /`tfk8s:allowFromPods` is "app"; expected comma-separated key=value pod labels/,
        ],
        [
            "a pod label key with a bad prefix",
            { networkPolicy: "true", allowFromPods: "Example.com/app=web" },
            /`tfk8s:allowFromPods` is "Example.com\/app=web"; expected comma-separated key=value/,
        ],
        [
            "a pod label repeated",
            { networkPolicy: "true", allowFromPods: "app=a,app=b" },
            /`tfk8s:allowFromPods` is "app=a,app=b"; expected .*each key once \(app repeats\)/,
        ],
        [
            "an image repository in upper case",
            { imageRepository: "Team/MyModel" },
            /`tfk8s:imageRepository` is "Team\/MyModel"; expected a Docker repository/,
        ],
        [
            "an image repository with a tag",
            { imageRepository: "mymodel-serving:v1" },
            /`tfk8s:imageRepository` is "mymodel-serving:v1"; expected a Docker repository/,
        ],
        [
            "an image repository with a digest",
            { imageRepository: "m@sha256:" + "a".repeat(64) },
            /`tfk8s:imageRepository` is "m@sha256:a+"; expected a Docker repository/,
        ],
        [
            "an image repository with a space",
            { imageRepository: "my model" },
            /`tfk8s:imageRepository` is "my model"; expected a Docker repository/,
        ],
        [
            "a node host written as a URL",
            { nodeHost: "http://10.0.0.5" },
            /`tfk8s:nodeHost` is "http:\/\/10.0.0.5"; expected a host name or IP address of a node, without scheme, port or path/,
        ],
        [
            "a node host with a port",
            { nodeHost: "10.0.0.5:30111" },
            /`tfk8s:nodeHost` is "10.0.0.5:30111"; expected a host name/,
        ],
        [
            "a base image with a line break that would add a Dockerfile instruction",
            { baseImage: "tensorflow/serving:2.20.0\nRUN curl evil" },
            /`tfk8s:baseImage` is "tensorflow\/serving:2.20.0\\nRUN curl evil"; expected an image reference/,
        ],
        [
            "a base image with a bad digest",
            { baseImage: "tensorflow/serving@sha256:1234" },
            /`tfk8s:baseImage` is "tensorflow\/serving@sha256:1234"; expected an image reference/,
        ],
        [
            "a platform Docker does not know",
            { platform: "linux/amd65" },
            /`tfk8s:platform` is "linux\/amd65"; expected one of linux\/amd64, /,
        ],
        [
            "a platform with a line break",
            { platform: "linux/amd64\nUSER root" },
            /`tfk8s:platform` is "linux\/amd64\\nUSER root"; expected one of/,
        ],
        [
            "a namespace with capitals",
            { namespace: "ML" },
            /`tfk8s:namespace` is "ML"; expected a lowercase RFC 1123 label/,
        ],
    ];
    for (const [what, config, message] of bad) {
        it(`rejects ${what}`, () => expectError({ ...DEV, ...config }, message));
    }

    describe("canary", () => {
        const CANARY = { ...DEV, replicas: "4", canaryVersion: "2", canaryWeight: "25" };

        it("is off by default", () => {
            setStackConfig(DEV);
            assert.strictEqual(loadStackConfig().canary, undefined);
        });

        it("trains the canary with the stable options and its own overrides", () => {
            setStackConfig({ ...CANARY, seed: "7", canarySeed: "8", canaryEpochs: "2" });
            const c = loadStackConfig();
            assert.strictEqual(c.canary?.version, 2);
            assert.strictEqual(c.canary?.weight, 25);
            assert.strictEqual(c.model.source.kind, "train");
            const stable = c.model.source.kind === "train" ? c.model.source.training : undefined;
            assert.deepStrictEqual(c.canary?.source, {
                kind: "train",
                training: { ...stable, seed: 8, epochs: 2 },
            });
            assert.strictEqual(stable?.seed, 7);
        });

        it("takes its own model source, or the stable one's", () => {
            setStackConfig({ ...CANARY, modelSource: "exports/a", canaryModelSource: "exports/b" });
            const c = loadStackConfig();
            assert.deepStrictEqual(c.canary?.source, {
                kind: "path",
                path: "exports/b",
                check: (c.model.source as { check: unknown }).check,
            });
            setStackConfig({ ...CANARY, modelSource: "exports/a" });
            assert.deepStrictEqual(loadStackConfig().canary?.source, c.model.source);
        });

        const badCanary: Array<[string, Record<string, string>, RegExp]> = [
            [
                "a weight above 100",
                { canaryWeight: "101" },
                /`tfk8s:canaryWeight` is "101"; expected an integer in 0-100/,
            ],
            [
                "a negative weight",
                { canaryWeight: "-5" },
                /`tfk8s:canaryWeight` is "-5"; expected an integer in 0-100/,
            ],
            [
                "a weight of 0",
                { canaryWeight: "0" },
                /`tfk8s:canaryWeight` is 0; expected 1-99 for a canary \(0 leaves it no pod: to roll back, remove canaryVersion\)/,
            ],
            [
                "a weight of 100",
                { canaryWeight: "100" },
                /`tfk8s:canaryWeight` is 100; expected 1-99 .*to promote the canary, make it modelVersion/,
            ],
            [
                "a weight 4 pods cannot give",
                { canaryWeight: "30" },
                /`tfk8s:canaryWeight` is 30; expected a share that replicas \(4\) pods give, each pod being 25%: 25 \(1 of 4\), 50 \(2 of 4\), 75 \(3 of 4\)/,
            ],
            [
                "a canary on a single pod",
                { replicas: "1", canaryWeight: "50" },
                /`tfk8s:canaryWeight` is 50; expected a share of at least 2 pods, one per track \(replicas is 1\)/,
            ],
            [
                "a canary with the stable version",
                { canaryVersion: "1" },
                /`tfk8s:canaryVersion` is 1; expected a version other than the stable track's \(1\)/,
            ],
            [
                "a canary without a weight",
                { canaryWeight: "" },
                /`tfk8s:canaryWeight` is undefined; expected the percent of the pods the canary gets, 1-99/,
            ],
            [
                "a canary with no model version",
                { canaryVersion: "" },
                /`tfk8s:canaryVersion` is undefined; expected the canary's model version, which canaryWeight \("25"\) describes/,
            ],
            [
                "canary training options with no canary",
                { canaryVersion: "", canaryWeight: "", canarySeed: "3" },
                /`tfk8s:canaryVersion` is undefined; expected the canary's model version, which canarySeed \("3"\) describes/,
            ],
            [
                "a budget the stable track's pods cannot keep",
                { pdbMinAvailable: "3" },
                /`tfk8s:pdbMinAvailable` is 3; expected fewer than the stable track's pods \(3\)/,
            ],
            [
                "a bad canary seed",
                { canarySeed: "x" },
                /`tfk8s:canarySeed` is "x"; expected an integer >= 0/,
            ],
        ];
        for (const [what, config, message] of badCanary) {
            it(`rejects ${what}`, () => expectError({ ...CANARY, ...config }, message));
        }
    });

    describe("gatewayParent", () => {
        it("reads the Gateway and host names of the HTTPRoute, and takes any canary weight", () => {
            setStackConfig({
                ...DEV,
                gatewayParent: "infra/public-gw",
                gatewayHostnames: "mnist.example.com, *.models.example.com",
                replicas: "4",
                canaryVersion: "2",
                canaryWeight: "10",
            });
            const c = loadStackConfig();
            assert.deepStrictEqual(c.serving.gateway, {
                parentName: "public-gw",
                parentNamespace: "infra",
                hostnames: ["mnist.example.com", "*.models.example.com"],
            });
            assert.strictEqual(c.canary?.weight, 10);
            setStackConfig(DEV);
            assert.strictEqual(loadStackConfig().serving.gateway, undefined);
        });

        const badGateway: Array<[string, Record<string, string>, RegExp]> = [
            [
                "a route without a parent",
                { gatewayHostnames: "mnist.example.com" },
                /`tfk8s:gatewayParent` is undefined; expected the Gateway \(name or namespace\/name\) an HTTPRoute attaches to: gatewayHostnames \("mnist.example.com"\) describes a route without a parent/,
            ],
            [
                "a parent that is no name",
                { gatewayParent: "Infra/GW" },
                /`tfk8s:gatewayParent` is "Infra\/GW"; expected a Gateway as name or namespace\/name/,
            ],
            [
                "a parent with two slashes",
                { gatewayParent: "a/b/c" },
                /`tfk8s:gatewayParent` is "a\/b\/c"; expected a Gateway as name or namespace\/name/,
            ],
            [
                "a host name with a port",
                { gatewayParent: "gw", gatewayHostnames: "mnist.example.com:8080" },
                /`tfk8s:gatewayHostnames` is "mnist.example.com:8080"; expected lowercase DNS host names/,
            ],
            [
                "a canary weight the pods cannot give without a Gateway",
                { replicas: "4", canaryVersion: "2", canaryWeight: "10" },
                /`tfk8s:canaryWeight` is 10; expected a share that replicas \(4\) pods give/,
            ],
        ];
        for (const [what, config, message] of badGateway) {
            it(`rejects ${what}`, () => expectError({ ...DEV, ...config }, message));
        }
    });

    describe("warmup", () => {
        it("writes warmup requests at the configured batch sizes, or none when off", () => {
            setStackConfig({ ...DEV, warmupBatchSizes: "1, 4,256" });
            assert.deepStrictEqual(loadStackConfig().model.warmupBatchSizes, [1, 4, 256]);
            setStackConfig({ ...DEV, warmup: "false" });
            assert.deepStrictEqual(loadStackConfig().model.warmupBatchSizes, []);
        });

        const badWarmup: Array<[string, Record<string, string>, RegExp]> = [
            [
                "a batch size of 0",
                { warmupBatchSizes: "1,0" },
                /`tfk8s:warmupBatchSizes` is "1,0"; expected comma-separated positive integers, e.g. 1,8,100/,
            ],
            [
                "a batch size that is no number",
                { warmupBatchSizes: "1,eight" },
                /`tfk8s:warmupBatchSizes` is "1,eight"; expected comma-separated positive integers/,
            ],
            [
                "a batch above the batching limit",
                { enableBatching: "true", warmupBatchSizes: "1,200" },
                /`tfk8s:warmupBatchSizes` is "1,200"; expected comma-separated batch sizes of 1-128, the batching limit \(enableBatching\)/,
            ],
        ];
        for (const [what, config, message] of badWarmup) {
            it(`rejects ${what}`, () => expectError({ ...DEV, ...config }, message));
        }
    });

    describe("gpu", () => {
        it("is off by default: CPU serving on the CPU base image", () => {
            setStackConfig(DEV);
            const c = loadStackConfig();
            assert.strictEqual(c.serving.gpu, undefined);
            assert.strictEqual(c.image.baseImage, "tensorflow/serving:2.20.0");
        });

        it("switches to the -gpu base image and tolerates the GPU taint unless told otherwise", () => {
            setStackConfig({ ...DEV, gpu: "2" });
            const c = loadStackConfig();
            assert.strictEqual(c.image.baseImage, "tensorflow/serving:2.20.0-gpu");
            assert.deepStrictEqual(c.serving.gpu, {
                count: 2,
                nodeSelector: {},
                tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
            });
        });

        it("takes a node selector and tolerations, or none", () => {
            setStackConfig({
                ...DEV,
                gpu: "1",
                baseImage: "mirror.example.com:5000/tensorflow/serving:latest",
                gpuNodeSelector: "cloud.google.com/gke-accelerator=nvidia-l4, pool=gpu",
                gpuTolerations: "sku=gpu:NoSchedule,nvidia.com/gpu",
            });
            const c = loadStackConfig();
            assert.strictEqual(
                c.image.baseImage,
                "mirror.example.com:5000/tensorflow/serving:latest-gpu",
            );
            assert.deepStrictEqual(c.serving.gpu, {
                count: 1,
                nodeSelector: { "cloud.google.com/gke-accelerator": "nvidia-l4", pool: "gpu" },
                tolerations: [
                    { key: "sku", operator: "Equal", value: "gpu", effect: "NoSchedule" },
                    { key: "nvidia.com/gpu", operator: "Exists" },
                ],
            });
            setStackConfig({ ...DEV, gpu: "1", gpuTolerations: "none" });
            assert.deepStrictEqual(loadStackConfig().serving.gpu?.tolerations, []);
        });

        const badGpu: Array<[string, Record<string, string>, RegExp]> = [
            ["a negative count", { gpu: "-1" }, /`tfk8s:gpu` is "-1"; expected an integer >= 0/],
            [
                "a base image with no GPU variant we know",
                { gpu: "1", baseImage: "tfk8s/tensorflow-serving-standin:2.21.0" },
                /`tfk8s:gpu` is 1; expected CPU serving \(0\) on baseImage tfk8s\/tensorflow-serving-standin:2.21.0, or a base image with a GPU variant we recognise: tensorflow\/serving .* tagged <x.y.z>, latest or nightly/,
            ],
            [
                "a base image pinned by digest",
                { gpu: "1", baseImage: `tensorflow/serving@sha256:${"a".repeat(64)}` },
                /`tfk8s:gpu` is 1; expected CPU serving \(0\) on baseImage tensorflow\/serving@sha256:a{64}, or a base image with a GPU variant/,
            ],
            [
                "a devel tag",
                { gpu: "1", baseImage: "tensorflow/serving:2.20.0-devel" },
                /`tfk8s:gpu` is 1; expected CPU serving \(0\) on baseImage tensorflow\/serving:2.20.0-devel/,
            ],
            [
                "a node selector without a GPU",
                { gpuNodeSelector: "pool=gpu" },
                /`tfk8s:gpuNodeSelector` is "pool=gpu"; expected gpu set to 1 or more, which it applies to/,
            ],
            [
                "tolerations without a GPU",
                { gpuTolerations: "none" },
                /`tfk8s:gpuTolerations` is "none"; expected gpu set to 1 or more/,
            ],
            [
                "a node selector that is no label list",
                { gpu: "1", gpuNodeSelector: "nvidia-l4" },
                /`tfk8s:gpuNodeSelector` is "nvidia-l4"; expected comma-separated key=value node labels, e.g. cloud.google.com\/gke-accelerator=nvidia-l4/,
            ],
            [
                "a toleration with an unknown effect",
                { gpu: "1", gpuTolerations: "nvidia.com/gpu:NoRun" },
                /`tfk8s:gpuTolerations` is "nvidia.com\/gpu:NoRun"; expected comma-separated taints as key\[=value\]\[:effect\], the effect one of NoSchedule, PreferNoSchedule, NoExecute, e.g. nvidia.com\/gpu:NoSchedule, or none/,
            ],
            [
                "a toleration with an empty value",
                { gpu: "1", gpuTolerations: "sku=:NoSchedule" },
                /`tfk8s:gpuTolerations` is "sku=:NoSchedule"; expected comma-separated taints/,
            ],
        ];
        for (const [what, config, message] of badGpu) {
            it(`rejects ${what}`, () => expectError({ ...DEV, ...config }, message));
        }
    });

    describe("createImagePullSecret", () => {
        const REGISTRY = {
            registryServer: "127.0.0.1:5000",
            registryUsername: "tfk8s",
            registryPassword: "s3cret",
        };

        it("hands the registry credentials to the pods", () => {
            setStackConfig({ ...REGISTRY, createImagePullSecret: "true" }, ["registryPassword"]);
            const c = loadStackConfig();
            assert.strictEqual(c.serving.pullCredentials?.server, "127.0.0.1:5000");
            assert.strictEqual(c.serving.pullCredentials?.username, "tfk8s");
            assert.strictEqual(c.serving.imagePullSecret, undefined);
        });

        it("is off by default", () => {
            setStackConfig(REGISTRY, ["registryPassword"]);
            assert.strictEqual(loadStackConfig().serving.pullCredentials, undefined);
        });

        it("refuses a stack that pushes nothing", () => {
            expectError(
                { ...DEV, createImagePullSecret: "true" },
                /`tfk8s:createImagePullSecret` is "true"; expected registry credentials \(registryServer, registryUsername, registryPassword\) and skipPush: false/,
            );
        });

        it("refuses render mode, where the password would land on disk", () => {
            expectError(
                { ...REGISTRY, createImagePullSecret: "true", renderDir: "manifests" },
                /`tfk8s:createImagePullSecret` is "true"; expected false in render mode \(renderDir\), which would write the registry password to disk in plain text/,
                ["registryPassword"],
            );
        });

        it("refuses a second Secret next to an existing one", () => {
            expectError(
                { ...REGISTRY, createImagePullSecret: "true", imagePullSecret: "regcred" },
                /`tfk8s:createImagePullSecret` is "true"; expected false next to imagePullSecret "regcred"/,
                ["registryPassword"],
            );
        });
    });

    it("rejects pushing without a registry", () => {
        expectError(
            {},
            /`tfk8s:registryServer` is undefined; expected a registry to push to, or skipPush: true/,
        );
    });

    it("rejects a registry without credentials", () => {
        expectError(
            { registryServer: "ghcr.io" },
            /`tfk8s:registryUsername` is undefined; expected a user name for registry ghcr.io/,
        );
        expectError(
            { registryServer: "ghcr.io", registryUsername: "bot" },
            /`tfk8s:registryPassword` is undefined; expected a secret password for registry ghcr.io/,
        );
    });

    it("rejects a registry password stored in plain text, without echoing it", () => {
        setStackConfig({
            registryServer: "ghcr.io",
            registryUsername: "bot",
            registryPassword: "hunter2",
        });
        assert.throws(
            () => loadStackConfig(),
            (err: Error) =>
                /`tfk8s:registryPassword` is stored in plain text; expected a secret/.test(
                    err.message,
                ) && !err.message.includes("hunter2"),
        );
    });

    it("rejects a registry written as a URL or with a path", () => {
        for (const server of ["https://ghcr.io", "ghcr.io/acme"]) {
            expectError(
                { registryServer: server, registryUsername: "bot", registryPassword: "x" },
                new RegExp(
                    `\`tfk8s:registryServer\` is "${server.replace(/[/.]/g, "\\$&")}"; expected a registry host with an optional port, without scheme or path`,
                ),
                ["registryPassword"],
            );
        }
    });

    it("accepts the references Docker accepts", () => {
        setStackConfig({
            ...DEV,
            baseImage: "registry.example.com:5000/tf/serving:2.20.0-gpu@sha256:" + "b".repeat(64),
            imageRepository: "localhost:5000/team_a/my.model__x-serving",
            platform: "linux/arm64",
            nodeHost: "[::1]",
        });
        const c = loadStackConfig();
        assert.strictEqual(c.image.repository, "localhost:5000/team_a/my.model__x-serving");
        assert.strictEqual(c.serving.nodeHost, "[::1]");
    });

    it("rejects a repository on another registry than the credentials are for", () => {
        expectError(
            {
                registryServer: "ghcr.io",
                registryUsername: "bot",
                registryPassword: "x",
                imageRepository: "docker.io/me/m",
            },
            /`tfk8s:imageRepository` is "docker.io\/me\/m"; expected a repository on registry ghcr.io/,
            ["registryPassword"],
        );
    });
});

describe("rollout config", () => {
    it("defaults to the default steps, a 60 s window, 1% errors and a p99 ratio of 2", () => {
        setStackConfig(DEV);
        assert.deepStrictEqual(loadStackConfig().rollout, {
            steps: undefined,
            windowSeconds: 60,
            maxErrorRate: 0.01,
            maxLatencyRatio: 2,
        });
    });

    it("reads steps that the pods give, and any rising steps with a Gateway route", () => {
        setStackConfig({ ...DEV, replicas: "4", rolloutSteps: "25, 50,75,100" });
        assert.deepStrictEqual(loadStackConfig().rollout.steps, [25, 50, 75, 100]);
        setStackConfig({
            ...DEV,
            replicas: "2",
            gatewayParent: "infra/public",
            rolloutSteps: "5,20,100",
            rolloutWindowSeconds: "30",
            rolloutMaxErrorRate: "0",
            rolloutMaxLatencyRatio: "1.25",
        });
        assert.deepStrictEqual(loadStackConfig().rollout, {
            steps: [5, 20, 100],
            windowSeconds: 30,
            maxErrorRate: 0,
            maxLatencyRatio: 1.25,
        });
    });

    it("refuses steps that do not rise to 100, naming the key, the value and the form", () => {
        for (const steps of ["10,50", "50,25,100", "10,10,100", "0,100", "100", "ten,100"]) {
            expectError(
                { ...DEV, replicas: "4", gatewayParent: "gw", rolloutSteps: steps },
                new RegExp(
                    `config \`tfk8s:rolloutSteps\` is "${steps}"; expected comma-separated percents rising from 1 to a last step of 100`,
                ),
            );
        }
    });

    it("refuses, without a route, a step no pod count gives, listing those that are", () => {
        expectError(
            { ...DEV, replicas: "4", rolloutSteps: "10,50,100" },
            /config `tfk8s:rolloutSteps` is "10,50,100"; expected steps without a Gateway route that are shares that replicas \(4\) pods give, each pod being 25%: 25 \(1 of 4\), 50 \(2 of 4\), 75 \(3 of 4\), then 100/,
        );
        expectError(
            { ...DEV, rolloutSteps: "50,100" },
            /config `tfk8s:replicas` is 1; expected at least 2 for a rollout: each track keeps a pod until promotion/,
        );
    });

    it("refuses steps the disruption budget would refuse, naming the step", () => {
        expectError(
            { ...DEV, replicas: "4", pdbMinAvailable: "2", rolloutSteps: "25,50,100" },
            /config `tfk8s:rolloutSteps` is "25,50,100"; expected steps that leave the stable track more pods than pdbMinAvailable \(2\) keeps through an eviction; 50% leaves it 2 of 4/,
        );
    });

    it("refuses thresholds out of range", () => {
        expectError(
            { ...DEV, rolloutMaxErrorRate: "1" },
            /config `tfk8s:rolloutMaxErrorRate` is "1"; expected a decimal in \[0, 1\)/,
        );
        expectError(
            { ...DEV, rolloutMaxLatencyRatio: "0.8" },
            /config `tfk8s:rolloutMaxLatencyRatio` is "0.8"; expected a decimal >= 1/,
        );
        expectError(
            { ...DEV, rolloutWindowSeconds: "0" },
            /config `tfk8s:rolloutWindowSeconds` is "0"; expected an integer >= 1/,
        );
    });
});

describe("Pulumi.yaml", () => {
    const project = YAML.parse(fs.readFileSync(path.join(__dirname, "..", "Pulumi.yaml"), "utf8"));

    it("declares every config key with the type and default the program uses, none as secret", () => {
        assert.deepStrictEqual(Object.keys(project.config).sort(), Object.keys(CONFIG_KEYS).sort());
        for (const [key, spec] of Object.entries(CONFIG_KEYS) as Array<
            [string, Record<string, unknown>]
        >) {
            const declared = project.config[key];
            assert.strictEqual(declared.type, spec.type, key);
            assert.strictEqual(declared.default, spec.default, key);
            assert.strictEqual(
                declared.secret,
                undefined,
                `${key}: see registryPassword in configKeys.ts`,
            );
            assert.ok(
                typeof declared.description === "string" && declared.description.length > 10,
                key,
            );
        }
    });

    for (const stack of ["dev", "prod"]) {
        it(`Pulumi.${stack}.yaml sets only declared keys`, () => {
            const file = YAML.parse(
                fs.readFileSync(path.join(__dirname, "..", `Pulumi.${stack}.yaml`), "utf8"),
            );
            for (const key of Object.keys(file.config)) {
                assert.ok(key.startsWith("tfk8s:") && key.slice(6) in CONFIG_KEYS, key);
            }
        });
    }
});
