import {
    mockDigest,
    ofType,
    promiseOf,
    recorded,
    resetRecorded,
    secretValue,
    single,
} from "./mocks";
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { deploymentArgs, probePaths } from "../components/deploymentSpec";
import { gpuBaseImage } from "../components/imageReference";
import { ModelRoute } from "../components/modelRoute";
import { ModelService } from "../components/modelService";
import { ModelServing } from "../components/modelServing";
import { servingLabels, trackLabels } from "../components/servingPlan";
import { ModelTrack, ModelTrackArgs } from "../components/modelTrack";
import { ServingImage, renderDockerfile, writeBuildContext } from "../components/servingImage";
import { hashDirectory } from "../model/contentHash";
import { DEFAULT_RESOURCES } from "../defaults";

const DEPLOYMENT = "kubernetes:apps/v1:Deployment";
const SERVICE = "kubernetes:core/v1:Service";
const IMAGE = "docker:index/image:Image";
const NAMESPACE = "kubernetes:core/v1:Namespace";
const NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy";
const SECRET = "kubernetes:core/v1:Secret";
const HTTP_ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute";

/** A version directory shaped like an export (`saved_model.pb` + a metadata file). */
function fakeVersionDir(content = "graph-bytes"): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tfk8s-version-"));
    fs.writeFileSync(path.join(dir, "saved_model.pb"), content);
    fs.mkdirSync(path.join(dir, "assets.extra"));
    fs.writeFileSync(path.join(dir, "assets.extra", "metadata.json"), "{}");
    return dir;
}

/** Waits for the mocks to see every resource registered so far. */
async function settle(c: pulumi.ComponentResource): Promise<void> {
    await promiseOf(pulumi.output(c.urn));
    await new Promise((r) => setImmediate(r));
}

describe("Dockerfile generator", () => {
    const base = {
        baseImage: "tensorflow/serving:2.20.0",
        modelName: "mymodel",
        modelVersion: 3,
        enableBatching: false,
        enableMonitoring: false,
    };

    it("bakes one model version into the pinned base image as a numeric non-root user", () => {
        const lines = renderDockerfile(base).trim().split("\n");
        assert.deepStrictEqual(lines.slice(1), [
            "FROM tensorflow/serving:2.20.0",
            "COPY models/mymodel/3 /models/mymodel/3",
            "ENV MODEL_NAME=mymodel MODEL_BASE_PATH=/models",
            "USER 10001:10001",
            "EXPOSE 8500 8501",
        ]);
    });

    it("accepts a base image by digest", () => {
        const digest = "tensorflow/serving@sha256:" + "a".repeat(64);
        assert.ok(renderDockerfile({ ...base, baseImage: digest }).includes(`FROM ${digest}\n`));
    });

    it("adds the batching and monitoring flags and their config files only when switched on", () => {
        const text = renderDockerfile({ ...base, enableBatching: true, enableMonitoring: true });
        assert.ok(text.includes("COPY config /etc/tfk8s\n"));
        assert.ok(
            text.includes(
                'CMD ["--enable_batching=true","--batching_parameters_file=/etc/tfk8s/batching.config","--monitoring_config_file=/etc/tfk8s/monitoring.config"]',
            ),
            text,
        );
        assert.ok(!renderDockerfile(base).includes("CMD"));
    });
});

describe("build context", () => {
    const options = {
        baseImage: "b",
        modelName: "m",
        modelVersion: 1,
        enableBatching: true,
        enableMonitoring: false,
    };

    it("holds only the Dockerfile, the model version and the enabled config", () => {
        const ctx = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "tfk8s-ctx-")), "context");
        writeBuildContext(ctx, fakeVersionDir(), options);
        const files: string[] = [];
        const walk = (d: string, rel = ""): void => {
            for (const e of fs.readdirSync(d, { withFileTypes: true })) {
                if (e.isDirectory()) walk(path.join(d, e.name), path.posix.join(rel, e.name));
                else files.push(path.posix.join(rel, e.name));
            }
        };
        walk(ctx);
        assert.deepStrictEqual(files.sort(), [
            "Dockerfile",
            "config/batching.config",
            "models/m/1/assets.extra/metadata.json",
            "models/m/1/saved_model.pb",
        ]);
    });

    it("hashes the same for the same model and differently when the model changes", () => {
        const root = fs.mkdtempSync(path.join(os.tmpdir(), "tfk8s-ctx-"));
        const a = writeBuildContext(path.join(root, "a"), fakeVersionDir("v1"), options);
        const b = writeBuildContext(path.join(root, "b"), fakeVersionDir("v1"), options);
        const c = writeBuildContext(path.join(root, "c"), fakeVersionDir("v2"), options);
        assert.strictEqual(a, b);
        assert.notStrictEqual(a, c);
        assert.strictEqual(hashDirectory(path.join(root, "a")), a);
    });

    it("rejects a model directory without saved_model.pb and writes nothing", () => {
        const root = fs.mkdtempSync(path.join(os.tmpdir(), "tfk8s-ctx-"));
        const empty = fs.mkdtempSync(path.join(os.tmpdir(), "tfk8s-empty-"));
        assert.throws(
            () => writeBuildContext(path.join(root, "ctx"), empty, options),
            /holds no saved_model\.pb/,
        );
        assert.deepStrictEqual(fs.readdirSync(root), []);
    });
});

describe("ServingImage", () => {
    beforeEach(resetRecorded);

    it("builds for linux/amd64, tags by content and pushes with a secret password", async () => {
        const ctx = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "tfk8s-ctx-")), "ctx");
        const img = new ServingImage("img", {
            modelDir: fakeVersionDir(),
            modelName: "mymodel",
            modelVersion: 1,
            repository: "registry.example.com/mymodel-serving",
            contextDir: ctx,
            registry: { server: "registry.example.com", username: "bot", password: "hunter2" },
        });
        await settle(img);
        const image = single(IMAGE);
        const tag = `v1-${img.contextHash.slice(0, 12)}`;
        assert.strictEqual(image.inputs.imageName, `registry.example.com/mymodel-serving:${tag}`);
        assert.strictEqual(image.inputs.build.platform, "linux/amd64");
        assert.strictEqual(image.inputs.skipPush, false);
        const registry = secretValue(image.inputs.registry);
        assert.ok(registry !== undefined, "registry credentials reach the provider as a secret");
        assert.deepStrictEqual(registry, {
            server: "registry.example.com",
            username: "bot",
            password: "hunter2",
        });
        const digest = await promiseOf(img.repoDigest);
        assert.strictEqual(
            digest,
            `registry.example.com/mymodel-serving@${mockDigest(image.inputs.imageName)}`,
        );
        assert.strictEqual(await promiseOf(img.imageRef), digest);
    });

    it("uses the content-addressed tag, not an image id, when not pushing", async () => {
        const img = new ServingImage("img", {
            modelDir: fakeVersionDir(),
            modelName: "m",
            modelVersion: 2,
            repository: "m-serving",
            contextDir: path.join(fs.mkdtempSync(path.join(os.tmpdir(), "tfk8s-ctx-")), "c"),
            skipPush: true,
        });
        await settle(img);
        assert.strictEqual(single(IMAGE).inputs.skipPush, true);
        assert.match(await promiseOf(img.imageRef), /^m-serving:v2-[0-9a-f]{12}$/);
    });

    it("refuses to push without credentials, before creating anything", () => {
        assert.throws(
            () =>
                new ServingImage("img", {
                    modelDir: fakeVersionDir(),
                    modelName: "m",
                    modelVersion: 1,
                    repository: "r/m",
                    contextDir: "/tmp/unused",
                }),
            /`registry` is undefined; expected credentials of the registry image r\/m is pushed to, or skipPush: true/,
        );
        assert.strictEqual(ofType(IMAGE).length, 0);
    });
});

/** A stable track's settings with one pod and the default sizes. */
function trackArgs(extra: Partial<ModelTrackArgs> = {}): ModelTrackArgs {
    return {
        track: "stable",
        image: "r/m@sha256:abc",
        modelName: "digits",
        modelVersion: 4,
        labels: { app: "x" },
        podLabels: {},
        podAnnotations: {},
        replicas: 1,
        autoscaled: false,
        resources: DEFAULT_RESOURCES,
        ...extra,
    };
}

describe("the Deployment of a track", () => {
    beforeEach(resetRecorded);

    it("waits for the model version, drops privileges and rolls out without downtime", () => {
        const spec = deploymentArgs(trackArgs({ replicas: 2 })).spec as any;
        assert.strictEqual(spec.replicas, 2);
        assert.deepStrictEqual(spec.strategy.rollingUpdate, { maxUnavailable: 0, maxSurge: 1 });
        const pod = spec.template.spec;
        const c = pod.containers[0];
        assert.strictEqual(c.image, "r/m@sha256:abc");
        assert.deepStrictEqual(
            c.ports.map((p: any) => [p.name, p.containerPort]),
            [
                ["http", 8501],
                ["grpc", 8500],
            ],
        );
        assert.strictEqual(c.startupProbe.httpGet.path, "/v1/models/digits/versions/4/metadata");
        // Probed every second while loading, for five minutes in all.
        assert.strictEqual(c.startupProbe.periodSeconds, 1);
        assert.strictEqual(c.startupProbe.periodSeconds * c.startupProbe.failureThreshold, 300);
        assert.strictEqual(c.readinessProbe.httpGet.path, "/v1/models/digits/versions/4/metadata");
        assert.strictEqual(c.livenessProbe.httpGet.path, "/v1/models/digits");
        assert.deepStrictEqual(c.resources, {
            requests: { cpu: "250m", memory: "256Mi", "ephemeral-storage": "128Mi" },
            limits: { cpu: "1", memory: "512Mi", "ephemeral-storage": "256Mi" },
        });
        assert.strictEqual(c.imagePullPolicy, "IfNotPresent");
        assert.deepStrictEqual(c.securityContext, {
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            runAsNonRoot: true,
            capabilities: { drop: ["ALL"] },
        });
        assert.strictEqual(pod.securityContext.runAsNonRoot, true);
        assert.strictEqual(pod.securityContext.runAsUser, 10001);
        assert.strictEqual(pod.securityContext.runAsGroup, 10001);
        assert.deepStrictEqual(pod.securityContext.seccompProfile, { type: "RuntimeDefault" });
        assert.deepStrictEqual(c.volumeMounts, [{ name: "tmp", mountPath: "/tmp" }]);
        assert.deepStrictEqual(pod.volumes[0].emptyDir, { sizeLimit: "64Mi" });
        // A leaving pod serves 5 s more while the Service drops it, and is gone 10 s after.
        // CPU serving: no GPU limit, no node selector, no tolerations.
        assert.strictEqual(pod.nodeSelector, undefined);
        assert.strictEqual(pod.tolerations, undefined);
        assert.deepStrictEqual(c.lifecycle, { preStop: { sleep: { seconds: 5 } } });
        assert.strictEqual(pod.terminationGracePeriodSeconds, 10);
        // Replicas prefer different nodes, selected by the pods' own labels.
        const spread = pod.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution;
        assert.deepStrictEqual(spread[0].podAffinityTerm, {
            topologyKey: "kubernetes.io/hostname",
            labelSelector: { matchLabels: { app: "x" } },
        });
        // An autoscaler owns the pod count.
        assert.strictEqual(
            (deploymentArgs(trackArgs({ autoscaled: true })).spec as any).replicas,
            undefined,
        );
    });

    it("is refused, as a ResourceError of the track, with zero replicas or zero GPUs", () => {
        assert.throws(
            () => new ModelTrack("zero", trackArgs({ replicas: 0 })),
            (err: Error) =>
                err instanceof pulumi.ResourceError &&
                /`replicas` is 0; expected an integer >= 1/.test(err.message),
        );
        const gpu = { count: 0, nodeSelector: {}, tolerations: [] };
        assert.throws(
            () => new ModelTrack("no-gpu", trackArgs({ gpu })),
            /`gpu.count` is 0; expected an integer >= 1 \(leave gpu out for CPU serving\)/,
        );
        assert.strictEqual(ofType(DEPLOYMENT).length, 0);
    });

    it("probes a path that carries the model name and version", () => {
        assert.deepStrictEqual(probePaths("mnist", 7), {
            ready: "/v1/models/mnist/versions/7/metadata",
            live: "/v1/models/mnist",
        });
    });
});

describe("ModelService", () => {
    beforeEach(resetRecorded);

    it("defaults to NodePort 30111 with named http and grpc ports", async () => {
        await settle(new ModelService("s", { selector: { a: "b" }, labels: { a: "b" } }));
        const spec = single(SERVICE).inputs.spec;
        assert.strictEqual(spec.type, "NodePort");
        assert.deepStrictEqual(
            spec.ports.map((p: any) => [p.name, p.port, p.nodePort]),
            [
                ["http", 8501, 30111],
                ["grpc", 8500, undefined],
            ],
        );
    });

    it("makes a ClusterIP Service without node ports", async () => {
        await settle(new ModelService("s", { selector: {}, labels: {}, type: "ClusterIP" }));
        const spec = single(SERVICE).inputs.spec;
        assert.strictEqual(spec.type, "ClusterIP");
        assert.deepStrictEqual(
            spec.ports.map((p: any) => [p.name, p.nodePort]),
            [
                ["http", undefined],
                ["grpc", undefined],
            ],
        );
    });

    it("rejects a nodePort on a ClusterIP Service and one out of range", () => {
        assert.throws(
            () =>
                new ModelService("s", {
                    selector: {},
                    labels: {},
                    type: "ClusterIP",
                    nodePort: 30111,
                }),
            /`nodePort` is 30111; expected no nodePort with serviceType ClusterIP/,
        );
        assert.throws(
            () => new ModelService("s", { selector: {}, labels: {}, nodePort: 80 }),
            /`nodePort` is 80; expected an integer in 30000-32767/,
        );
    });
});

describe("ModelServing", () => {
    beforeEach(resetRecorded);

    it("refuses, as pulumi.ResourceErrors, sizes the API server would and a node host with a scheme", () => {
        const base = { image: "x@sha256:" + "a".repeat(64), modelName: "m", modelVersion: 1 };
        const resources = {
            cpuRequest: "2",
            cpuLimit: "1",
            memoryRequest: "1Gi",
            memoryLimit: "2Gi",
            ephemeralStorageRequest: "1Gi",
            ephemeralStorageLimit: "2Gi",
        };
        assert.throws(
            () => new ModelServing("a", { ...base, resources }),
            (err: Error) =>
                err instanceof pulumi.ResourceError &&
                /`resources.cpuRequest` is "2"; expected at most cpuLimit \(1\)/.test(err.message),
        );
        assert.throws(
            () => new ModelServing("b", { ...base, nodeHost: "http://node1" }),
            /`nodeHost` is "http:\/\/node1"; expected a host name or IP address/,
        );
        const disk = { ...resources, cpuRequest: "1", ephemeralStorageRequest: "3Gi" };
        assert.throws(
            () => new ModelServing("c", { ...base, resources: disk }),
            /`resources.ephemeralStorageRequest` is "3Gi"; expected at most ephemeralStorageLimit \(2Gi\)/,
        );
        assert.throws(
            () => new ModelServing("d", { ...base, createNamespace: true }),
            (err: Error) =>
                err instanceof pulumi.ResourceError &&
                /`namespace` is "default"; expected a namespace of the model's own/.test(
                    err.message,
                ),
        );
        assert.strictEqual(ofType(NAMESPACE).length, 0);
    });

    it("creates the pods' image pull Secret from registry credentials, as a secret", async () => {
        const s = new ModelServing("pull", {
            image: "127.0.0.1:5000/m@sha256:" + "a".repeat(64),
            modelName: "m",
            modelVersion: 1,
            namespace: "tfk8s-dev",
            pullCredentials: {
                server: "127.0.0.1:5000",
                username: "tfk8s",
                password: pulumi.secret("s3cret"),
            },
        });
        await settle(s);
        const secret = single(SECRET).inputs;
        assert.strictEqual(secret.type, "kubernetes.io/dockerconfigjson");
        assert.strictEqual(secret.metadata.name, "m-serving-pull");
        assert.strictEqual(secret.metadata.namespace, "tfk8s-dev");
        // The SDK marks stringData secret as a whole, so the password stays encrypted in state.
        const data = secretValue(secret.stringData) as Record<string, unknown> | undefined;
        assert.ok(data !== undefined, "stringData must be recorded as a secret");
        assert.deepStrictEqual(JSON.parse(data[".dockerconfigjson"] as string), {
            auths: {
                "127.0.0.1:5000": {
                    username: "tfk8s",
                    password: "s3cret",
                    auth: Buffer.from("tfk8s:s3cret").toString("base64"),
                },
            },
        });
        assert.deepStrictEqual(single(DEPLOYMENT).inputs.spec.template.spec.imagePullSecrets, [
            { name: "m-serving-pull" },
        ]);
    });

    it("creates its namespace when asked and puts every object in it", async () => {
        const s = new ModelServing("dev", {
            image: "i",
            modelName: "m",
            modelVersion: 1,
            namespace: "tfk8s-dev",
            createNamespace: true,
            serviceType: "ClusterIP",
            networkAccess: { fromNamespaces: [], fromPods: {} },
        });
        await settle(s);
        assert.strictEqual(single(NAMESPACE).inputs.metadata.name, "tfk8s-dev");
        // Pod Security admission enforces the restricted standard there, at a pinned version.
        assert.deepStrictEqual(single(NAMESPACE).inputs.metadata.labels, {
            "app.kubernetes.io/part-of": "tfk8s",
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/enforce-version": "v1.34",
        });
        const namespaced = recorded.filter(
            (r) => r.type.startsWith("kubernetes:") && r.type !== NAMESPACE,
        );
        assert.strictEqual(namespaced.length, 3);
        // (That they wait for the Namespace shows only under a real engine: the integration
        // suite deploys into a namespace the stack creates.)
        for (const r of namespaced) {
            assert.strictEqual(r.inputs.metadata.namespace, "tfk8s-dev", r.type);
        }
        assert.strictEqual(
            await promiseOf(s.endpoint),
            "http://m-serving.tfk8s-dev.svc.cluster.local:8501",
        );
    });

    it("admits only the named callers to both ports with a NetworkPolicy", async () => {
        const base = { image: "i", modelName: "m", modelVersion: 1 };
        await settle(
            new ModelServing("np", {
                ...base,
                networkAccess: { fromNamespaces: ["web", "batch"], fromPods: { tier: "api" } },
            }),
        );
        const spec = single(NETWORK_POLICY).inputs.spec;
        assert.deepStrictEqual(spec.podSelector.matchLabels, servingLabels("m"));
        assert.deepStrictEqual(spec.policyTypes, ["Ingress", "Egress"]);
        assert.strictEqual(spec.egress, undefined, "egress rules would open connections");
        assert.deepStrictEqual(spec.ingress[0].from, [
            { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "web" } } },
            { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "batch" } } },
            { podSelector: { matchLabels: { tier: "api" } } },
        ]);
        assert.deepStrictEqual(
            spec.ingress[0].ports.map((p: any) => [p.protocol, p.port]),
            [
                ["TCP", 8501],
                ["TCP", 8500],
            ],
        );
        resetRecorded();
        await settle(
            new ModelServing("own", {
                ...base,
                networkAccess: { fromNamespaces: [], fromPods: {} },
            }),
        );
        // Nobody named: the model's own namespace, not the world (an empty `from` admits all).
        assert.deepStrictEqual(single(NETWORK_POLICY).inputs.spec.ingress[0].from, [
            { podSelector: {} },
        ]);
        resetRecorded();
        await settle(new ModelServing("none", base));
        assert.strictEqual(ofType(NETWORK_POLICY).length, 0);
    });

    it("selects the stable track's pods with its Deployment and every track's with the Service", async () => {
        const s = new ModelServing("mnist", {
            image: "r/m@sha256:1",
            modelName: "mymodel",
            modelVersion: 1,
            modelAccuracy: 0.9781,
        });
        await settle(s);
        const dep = single(DEPLOYMENT).inputs;
        const svc = single(SERVICE).inputs;
        const labels = servingLabels("mymodel");
        const stable = trackLabels("mymodel", "stable");
        // The selector every stable Deployment had before tracks existed: no replacement.
        assert.deepStrictEqual(dep.spec.selector.matchLabels, {
            "app.kubernetes.io/name": "mymodel-serving",
            "app.kubernetes.io/component": "model-server",
            "app.kubernetes.io/part-of": "tfk8s",
            "app.kubernetes.io/managed-by": "pulumi",
        });
        assert.deepStrictEqual(stable, dep.spec.selector.matchLabels);
        assert.deepStrictEqual(dep.spec.template.metadata.labels, {
            ...stable,
            "tfk8s.dev/track": "stable",
        });
        assert.deepStrictEqual(svc.spec.selector, labels);
        assert.ok(Object.entries(labels).every(([k, v]) => stable[k] === v));
        assert.strictEqual(labels["app.kubernetes.io/name"], "mymodel-serving");
        assert.deepStrictEqual(s.replicasByTrack, { stable: 1, canary: 0 });
        assert.strictEqual(
            dep.spec.template.metadata.annotations["tfk8s.dev/model-accuracy"],
            "0.9781",
        );
        assert.strictEqual(dep.spec.template.metadata.annotations["tfk8s.dev/model-version"], "1");
        assert.strictEqual(await promiseOf(s.endpoint), "http://localhost:30111");
        assert.strictEqual(
            await promiseOf(s.predictUrl),
            "http://localhost:30111/v1/models/mymodel:predict",
        );
        assert.strictEqual(ofType("kubernetes:autoscaling/v2:HorizontalPodAutoscaler").length, 0);
        assert.strictEqual(ofType("kubernetes:policy/v1:PodDisruptionBudget").length, 0);
    });

    it("adds an HPA on CPU and a PDB when configured, and a cluster-internal endpoint for ClusterIP", async () => {
        const s = new ModelServing("mnist", {
            image: "i",
            modelName: "mymodel",
            modelVersion: 1,
            namespace: "ml",
            replicas: 3,
            serviceType: "ClusterIP",
            autoscaling: { maxReplicas: 10, cpuPercent: 70 },
            pdbMinAvailable: 2,
        });
        await settle(s);
        const hpa = single("kubernetes:autoscaling/v2:HorizontalPodAutoscaler").inputs.spec;
        assert.deepStrictEqual([hpa.minReplicas, hpa.maxReplicas], [3, 10]);
        // The autoscaler owns the count: a static one would be reset by every pulumi up.
        const deployment = single("kubernetes:apps/v1:Deployment").inputs.spec;
        assert.strictEqual(deployment.replicas, undefined);
        assert.strictEqual(deployment.strategy.rollingUpdate.maxUnavailable, 0);
        assert.strictEqual(hpa.metrics[0].resource.target.averageUtilization, 70);
        assert.strictEqual(hpa.scaleTargetRef.name, "mymodel-serving");
        // No window configured: Kubernetes' own scale-down behaviour.
        assert.strictEqual(hpa.behavior, undefined);
        const pdb = single("kubernetes:policy/v1:PodDisruptionBudget").inputs.spec;
        assert.strictEqual(pdb.minAvailable, 2);
        assert.deepStrictEqual(pdb.selector.matchLabels, trackLabels("mymodel", "stable"));
        assert.strictEqual(
            await promiseOf(s.endpoint),
            "http://mymodel-serving.ml.svc.cluster.local:8501",
        );
    });

    it("next to an autoscaler, keeps the stable track's share of the pods as its minimum", async () => {
        const s = new ModelServing("mnist", {
            image: "i",
            modelName: "mymodel",
            modelVersion: 1,
            replicas: 4,
            autoscaling: { maxReplicas: 10, cpuPercent: 70 },
            canary: { image: "c", modelVersion: 2, weight: 25 },
        });
        await settle(s);
        const hpa = single("kubernetes:autoscaling/v2:HorizontalPodAutoscaler").inputs.spec;
        assert.deepStrictEqual([hpa.minReplicas, hpa.maxReplicas], [3, 10]);
        assert.strictEqual(hpa.scaleTargetRef.name, "mymodel-serving");
        const deployments = ofType(DEPLOYMENT).map((d) => d.inputs.spec);
        // The stable count is the autoscaler's; the canary's is fixed at its share.
        assert.deepStrictEqual(
            deployments.map((d) => d.replicas),
            [undefined, 1],
        );
    });

    it("sets the HPA's scale-down window when one is given", async () => {
        const s = new ModelServing("mnist", {
            image: "i",
            modelName: "mymodel",
            modelVersion: 1,
            replicas: 1,
            autoscaling: { maxReplicas: 3, cpuPercent: 50, scaleDownWindowSeconds: 0 },
        });
        await settle(s);
        const hpa = single("kubernetes:autoscaling/v2:HorizontalPodAutoscaler").inputs.spec;
        assert.deepStrictEqual(hpa.behavior, { scaleDown: { stabilizationWindowSeconds: 0 } });
    });

    it("gives every child a name derived from the component's", async () => {
        // Autoscaling and a PDB switched on, so all four kinds of child are there to be named.
        await settle(
            new ModelServing("prod", {
                image: "i",
                modelName: "m",
                modelVersion: 1,
                replicas: 2,
                autoscaling: { maxReplicas: 4, cpuPercent: 80 },
                pdbMinAvailable: 1,
            }),
        );
        const children = recorded.filter((r) => r.type.startsWith("kubernetes:"));
        assert.deepStrictEqual(children.map((r) => r.type).sort(), [
            DEPLOYMENT,
            "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
            SERVICE,
            "kubernetes:policy/v1:PodDisruptionBudget",
        ]);
        assert.deepStrictEqual(
            children.filter((r) => !r.name.startsWith("prod-")).map((r) => r.name),
            [],
        );
    });

    it("adds a canary track: its own Deployment, a ClusterIP Service per track, one shared Service", async () => {
        const s = new ModelServing("mnist", {
            image: "r/m@sha256:1",
            modelName: "mymodel",
            modelVersion: 1,
            replicas: 4,
            pdbMinAvailable: 2,
            canary: { image: "r/m@sha256:2", modelVersion: 2, modelAccuracy: 0.98, weight: 25 },
        });
        await settle(s);
        assert.deepStrictEqual(s.replicasByTrack, { stable: 3, canary: 1 });
        const deployments = ofType(DEPLOYMENT).map((d) => d.inputs);
        const named = (objects: Array<Record<string, any>>, name: string) => {
            const found = objects.find((o) => o.metadata.name === name);
            assert.ok(found !== undefined, `no object named ${name}`);
            return found;
        };
        const byName = (name: string) => named(deployments, name);
        const stable = byName("mymodel-serving");
        const canary = byName("mymodel-serving-canary");
        assert.deepStrictEqual(
            [stable.spec.replicas, canary.spec.replicas, deployments.length],
            [3, 1, 2],
        );
        assert.strictEqual(canary.spec.template.spec.containers[0].image, "r/m@sha256:2");
        assert.strictEqual(
            canary.spec.template.metadata.annotations["tfk8s.dev/model-version"],
            "2",
        );
        assert.strictEqual(
            canary.spec.template.metadata.annotations["tfk8s.dev/model-accuracy"],
            "0.9800",
        );
        assert.strictEqual(canary.spec.template.metadata.labels["tfk8s.dev/track"], "canary");
        // The canary probes its own version.
        assert.strictEqual(
            canary.spec.template.spec.containers[0].readinessProbe.httpGet.path,
            "/v1/models/mymodel/versions/2/metadata",
        );
        // Neither Deployment's selector matches the other's pods; the Service's matches both.
        const matches = (selector: Record<string, string>, pod: Record<string, string>) =>
            Object.entries(selector).every(([k, v]) => pod[k] === v);
        const podsOf = (d: any) => d.spec.template.metadata.labels;
        assert.ok(matches(stable.spec.selector.matchLabels, podsOf(stable)));
        assert.ok(!matches(stable.spec.selector.matchLabels, podsOf(canary)));
        assert.ok(!matches(canary.spec.selector.matchLabels, podsOf(stable)));
        const services = ofType(SERVICE).map((r) => r.inputs);
        const svc = (name: string) => named(services, name);
        assert.ok(matches(svc("mymodel-serving").spec.selector, podsOf(stable)));
        assert.ok(matches(svc("mymodel-serving").spec.selector, podsOf(canary)));
        for (const [name, pods, other] of [
            ["mymodel-serving-stable", podsOf(stable), podsOf(canary)],
            ["mymodel-serving-canary", podsOf(canary), podsOf(stable)],
        ]) {
            assert.strictEqual(svc(name).spec.type, "ClusterIP");
            assert.ok(matches(svc(name).spec.selector, pods), name);
            assert.ok(!matches(svc(name).spec.selector, other), name);
        }
        // Each track has its own disruption budget; the canary's lets its one pod be drained.
        const pdbs = ofType("kubernetes:policy/v1:PodDisruptionBudget").map((r) => r.inputs.spec);
        assert.deepStrictEqual(
            pdbs
                .map((p) => [
                    p.minAvailable,
                    p.maxUnavailable,
                    matches(p.selector.matchLabels, podsOf(canary)),
                ])
                .sort((a, b) => Number(a[2]) - Number(b[2])),
            [
                [2, undefined, false],
                [undefined, 1, true],
            ],
        );
    });

    it("serves both tracks on GPUs: the device limit, the node selector, the tolerations and the base image's name", async () => {
        const gpu = {
            count: 2,
            nodeSelector: { "cloud.google.com/gke-accelerator": "nvidia-l4" },
            tolerations: [
                { key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" },
                { key: "sku", operator: "Equal", value: "gpu" },
            ] as const,
        };
        const s = new ModelServing("mnist", {
            image: "r/m@sha256:1",
            modelName: "mymodel",
            modelVersion: 1,
            replicas: 2,
            baseImage: "tensorflow/serving:2.20.0-gpu",
            gpu,
            canary: { image: "r/m@sha256:2", modelVersion: 2, weight: 50 },
        });
        await settle(s);
        const deployments = ofType(DEPLOYMENT).map((d) => d.inputs);
        assert.strictEqual(deployments.length, 2);
        for (const d of deployments) {
            const pod = d.spec.template.spec;
            assert.deepStrictEqual(pod.containers[0].resources.limits, {
                cpu: "1",
                memory: "512Mi",
                "ephemeral-storage": "256Mi",
                "nvidia.com/gpu": "2",
            });
            assert.strictEqual(pod.containers[0].resources.requests["nvidia.com/gpu"], undefined);
            assert.deepStrictEqual(pod.nodeSelector, {
                "cloud.google.com/gke-accelerator": "nvidia-l4",
            });
            assert.deepStrictEqual(pod.tolerations, [
                { key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" },
                { key: "sku", operator: "Equal", value: "gpu" },
            ]);
            assert.strictEqual(
                d.spec.template.metadata.annotations["tfk8s.dev/base-image"],
                "tensorflow/serving:2.20.0-gpu",
            );
        }
    });

    it("names the -gpu variant of TF Serving's tags, and none for images it does not know", () => {
        for (const [base, variant] of [
            ["tensorflow/serving:2.20.0", "tensorflow/serving:2.20.0-gpu"],
            ["tensorflow/serving", "tensorflow/serving:latest-gpu"],
            ["docker.io/tensorflow/serving:nightly", "docker.io/tensorflow/serving:nightly-gpu"],
            ["tensorflow/serving:2.20.0-gpu", "tensorflow/serving:2.20.0-gpu"],
            [
                `tensorflow/serving:2.20.0-gpu@sha256:${"b".repeat(64)}`,
                `tensorflow/serving:2.20.0-gpu@sha256:${"b".repeat(64)}`,
            ],
            [`tensorflow/serving@sha256:${"b".repeat(64)}`, undefined],
            ["tensorflow/serving:2.20.0-devel", undefined],
            ["tfk8s/tensorflow-serving-standin:2.21.0", undefined],
            ["example.com/serving:2.20.0", undefined],
        ] as const) {
            assert.strictEqual(gpuBaseImage(base), variant, base);
        }
    });

    it("routes through a named Gateway: exact weights to the track Services, any weight 1-99", async () => {
        const gateway = {
            parentName: "public",
            parentNamespace: "infra",
            hostnames: ["mnist.example.com"],
        };
        const s = new ModelServing("mnist", {
            image: "r/m@sha256:1",
            modelName: "mymodel",
            modelVersion: 1,
            replicas: 4,
            gateway,
            canary: { image: "r/m@sha256:2", modelVersion: 2, weight: 10 },
        });
        await settle(s);
        // 10% is no share of 4 pods; the route carries it exactly, the pods follow as whole pods.
        assert.deepStrictEqual(s.replicasByTrack, { stable: 3, canary: 1 });
        const route = single(HTTP_ROUTE).inputs;
        assert.deepStrictEqual(
            [route.apiVersion, route.kind, route.metadata.name],
            ["gateway.networking.k8s.io/v1", "HTTPRoute", "mymodel-serving"],
        );
        assert.deepStrictEqual(route.spec.parentRefs, [
            {
                group: "gateway.networking.k8s.io",
                kind: "Gateway",
                name: "public",
                namespace: "infra",
            },
        ]);
        assert.deepStrictEqual(route.spec.hostnames, ["mnist.example.com"]);
        assert.deepStrictEqual(route.spec.rules, [
            {
                backendRefs: [
                    { kind: "Service", name: "mymodel-serving-stable", port: 8501, weight: 90 },
                    { kind: "Service", name: "mymodel-serving-canary", port: 8501, weight: 10 },
                ],
            },
        ]);

        resetRecorded();
        await settle(
            new ModelServing("solo", {
                image: "r/m@sha256:1",
                modelName: "mymodel",
                modelVersion: 1,
                gateway: { parentName: "public", hostnames: [] },
            }),
        );
        const solo = single(HTTP_ROUTE).inputs.spec;
        assert.deepStrictEqual(solo.parentRefs, [
            { group: "gateway.networking.k8s.io", kind: "Gateway", name: "public" },
        ]);
        assert.strictEqual(solo.hostnames, undefined);
        assert.deepStrictEqual(solo.rules[0].backendRefs, [
            { kind: "Service", name: "mymodel-serving", port: 8501 },
        ]);
        assert.throws(
            () =>
                new ModelRoute("bad", {
                    labels: {},
                    gateway: { parentName: "public", hostnames: [] },
                    backends: [
                        { serviceName: "a", weight: 90 },
                        { serviceName: "b", weight: 20 },
                    ],
                }),
            /`backends` is \[90,20\]; expected weights in percent adding up to 100, not 110/,
        );
    });

    it("refuses a canary of the stable version, or with a weight the pods cannot give", () => {
        const base = { image: "i", modelName: "m", modelVersion: 1, replicas: 4 };
        const canary = { image: "c", modelVersion: 2, weight: 25 };
        const cases: Array<[object, RegExp]> = [
            [
                { ...base, canary: { ...canary, modelVersion: 1 } },
                /`canary.modelVersion` is 1; expected a version other than the stable track's \(1\)/,
            ],
            [
                { ...base, canary: { ...canary, weight: 30 } },
                /`canary.weight` is 30; expected a share that replicas \(4\) pods give/,
            ],
            [
                { ...base, pdbMinAvailable: 3, canary },
                /`pdbMinAvailable` is 3; expected fewer than the stable track's pods \(3\)/,
            ],
        ];
        for (const [args, error] of cases) {
            assert.throws(() => new ModelServing("x", args as any), error);
        }
    });

    it("rejects a PDB that would block every eviction", () => {
        assert.throws(
            () =>
                new ModelServing("x", {
                    image: "i",
                    modelName: "m",
                    modelVersion: 1,
                    replicas: 2,
                    pdbMinAvailable: 2,
                }),
            /`pdbMinAvailable` is 2; expected fewer than replicas \(2\)/,
        );
    });
});
