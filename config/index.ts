/**
 * The stack's configuration, read once into a typed, validated object. The keys are declared in
 * `configKeys.ts`. Validation runs before any resource exists, so bad config fails `pulumi
 * preview` with an error naming the key, the value and what was expected.
 */
import * as pulumi from "@pulumi/pulumi";
import {
    DEFAULT_GPU_TOLERATIONS,
    GpuSettings,
    ResourceSizes,
    parseTolerations,
    resourceProblem,
} from "./components/modelDeployment";
import { NetworkAccess, parsePodLabels } from "./components/modelNetworkPolicy";
import { GatewaySettings, hostnameProblem, parseGatewayParent } from "./components/modelRoute";
import { parseLabelList } from "./components/objectMeta";
import {
    ServingSettings,
    canaryReplicas,
    nodeHostProblem,
    ownNamespaceProblem,
    scalingProblem,
} from "./components/modelServing";
import { DEFAULT_NODE_PORT, SERVICE_TYPES, nodePortProblem } from "./components/modelService";
import {
    GPU_BASE_EXPECTED,
    ImageSettings,
    MAX_BATCH_SIZE,
    RegistryArgs,
    gpuBaseImage,
    imageReferenceProblem,
    platformProblem,
    registryHostProblem,
    repositoryProblem,
} from "./components/servingImage";
import { CONFIG_KEYS, ConfigKey } from "./configKeys";
import { MODEL_NAME_EXPECTED, MODEL_NAME_PATTERN } from "./model/savedmodel/contract";
import { ModelSource } from "./model/sources/resolve";
import { parseBackendName } from "./model/training/backend";
import { TrainOptions } from "./model/training/train";
import { parseTrainerName } from "./model/training/trainers";

/**
 * The validated configuration of one stack, in slices shaped like what each part takes: the
 * model source for `resolveModel`, `image` for `ServingImage`, `serving` for `ModelServing`.
 */
export interface StackConfig {
    readonly model: {
        readonly name: string;
        readonly version: number;
        readonly source: ModelSource;
        /** Batch sizes of the warmup requests our exports carry; none when empty. */
        readonly warmupBatchSizes: readonly number[];
    };
    readonly image: ImageSettings;
    readonly cluster: {
        /** kubeconfig context; the current one when undefined. */
        readonly context?: string;
        /** Render mode: the directory manifests are written to instead of a cluster. */
        readonly renderDir?: string;
    };
    readonly serving: ServingSettings & { readonly namespace: string; readonly replicas: number };
    /** A canary track: its model and the percent of the pods it gets. */
    readonly canary?: {
        readonly version: number;
        readonly source: ModelSource;
        readonly weight: number;
    };
}

const NAMESPACE = "tfk8s";

/**
 * Whether the engine passed a key as a secret. The SDK keeps this helper out of its typings
 * (it is marked internal), yet it is the only way to tell a `--secret` value from a plain one;
 * the config tests fail if it ever moves.
 */
const { isConfigSecret } = require("@pulumi/pulumi/runtime/config") as {
    isConfigSecret(key: string): boolean;
};

/** RFC 1123 label: what Kubernetes accepts as a namespace or Secret name. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function fail(key: string, value: unknown, expected: string): never {
    throw new Error(
        `config \`${NAMESPACE}:${key}\` is ${JSON.stringify(value)}; expected ${expected}`,
    );
}

/** Reads raw strings; Pulumi passes every config value to the program as a string. */
class Reader {
    private readonly config = new pulumi.Config(NAMESPACE);

    raw(key: ConfigKey): string | undefined {
        const value = this.config.get(key);
        return value === undefined || value === "" ? undefined : value;
    }

    string(key: ConfigKey): string | undefined {
        const value = this.raw(key) ?? String(CONFIG_KEYS[key].default);
        return value === "" ? undefined : value;
    }

    integer(key: ConfigKey, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
        const text = this.string(key);
        if (text === undefined) return undefined;
        const n = Number(text);
        if (!/^-?\d+$/.test(text.trim()) || n < min || n > max) {
            fail(
                key,
                text,
                max === Number.MAX_SAFE_INTEGER
                    ? `an integer >= ${min}`
                    : `an integer in ${min}-${max}`,
            );
        }
        return n;
    }

    decimal(key: ConfigKey, ok: (n: number) => boolean, expected: string): number {
        const text = this.string(key) as string;
        const n = Number(text);
        if (text.trim() === "" || !Number.isFinite(n) || !ok(n)) fail(key, text, expected);
        return n;
    }

    boolean(key: ConfigKey): boolean {
        const text = this.string(key);
        if (text !== "true" && text !== "false") fail(key, text, "true or false");
        return text === "true";
    }

    oneOf<T extends string>(key: ConfigKey, allowed: readonly T[]): T {
        const text = this.string(key) as string;
        if (!(allowed as readonly string[]).includes(text))
            fail(key, text, `one of ${allowed.join(", ")}`);
        return text as T;
    }

    matching(key: ConfigKey, pattern: RegExp, expected: string): string | undefined {
        const text = this.string(key);
        if (text !== undefined && !pattern.test(text)) fail(key, text, expected);
        return text;
    }

    secret(key: ConfigKey): pulumi.Output<string> | undefined {
        if (this.raw(key) === undefined) return undefined;
        // A plain-text password would sit unencrypted in Pulumi.<stack>.yaml and in git.
        if (!isConfigSecret(`${NAMESPACE}:${key}`)) {
            throw new Error(
                `config \`${NAMESPACE}:${key}\` is stored in plain text; expected a secret (pulumi config set --secret ${key} …)`,
            );
        }
        return this.config.requireSecret(key);
    }
}

/** The training keys, checked whatever the source, so a typo fails now, not after a switch back. */
function readTraining(r: Reader): TrainOptions {
    return {
        dataDir: r.string("dataDir"),
        cacheDir: r.string("cacheDir") as string,
        epochs: r.integer("epochs", 1) as number,
        batchSize: r.integer("batchSize", 1) as number,
        seed: r.integer("seed", 0) as number,
        learningRate: r.decimal("learningRate", (n) => n > 0, "a positive decimal"),
        trainSubset: r.integer("trainSubset", 1),
        minAccuracy: r.decimal("minAccuracy", (n) => n > 0 && n <= 1, "a decimal in (0, 1]"),
        backend: parseBackendName(r.string("backend"), `${NAMESPACE}:backend`),
        trainer: parseTrainerName(r.string("trainer"), `${NAMESPACE}:trainer`),
    };
}

/** `train`, or a path whose contents (SavedModel or tfjs) `model/sources/fromDisk.ts` decides. */
function sourceOf(value: string, training: TrainOptions): ModelSource {
    return value === "train" ? { kind: "train", training } : { kind: "path", path: value };
}

/** The keys that describe a canary, besides its version. */
const CANARY_KEYS = ["canaryWeight", "canaryModelSource", "canarySeed", "canaryEpochs"] as const;

/**
 * The canary track: its version and weight, and its model as the stable source with the
 * canary's overrides. A canary key without `canaryVersion` is refused rather than ignored.
 */
function readCanary(
    r: Reader,
    stableVersion: number,
    training: TrainOptions,
    serving: StackConfig["serving"],
): StackConfig["canary"] {
    const version = r.integer("canaryVersion", 1);
    if (version === undefined) {
        const set = CANARY_KEYS.find((key) => r.raw(key) !== undefined);
        if (set !== undefined) {
            fail(
                "canaryVersion",
                undefined,
                `the canary's model version, which ${set} (${JSON.stringify(r.raw(set))}) describes`,
            );
        }
        return undefined;
    }
    const weight = r.integer("canaryWeight", 0, 100);
    if (weight === undefined) {
        fail("canaryWeight", undefined, "the percent of the pods the canary gets, 1-99");
    }
    const split = canaryReplicas(
        { modelVersion: stableVersion, autoscaling: serving.autoscaling, gateway: serving.gateway },
        { modelVersion: version, weight },
        serving.replicas,
    );
    if ("field" in split) {
        fail(
            split.field === "weight" ? "canaryWeight" : "canaryVersion",
            split.value,
            split.expected,
        );
    }
    const budget = scalingProblem(
        split.stable,
        undefined,
        serving.pdbMinAvailable,
        "the stable track's pods",
    );
    if (budget !== undefined) fail("pdbMinAvailable", budget.value, budget.expected);
    const source = sourceOf(r.raw("canaryModelSource") ?? (r.string("modelSource") as string), {
        ...training,
        seed: r.integer("canarySeed", 0) ?? training.seed,
        epochs: r.integer("canaryEpochs", 1) ?? training.epochs,
    });
    return { version, source, weight };
}

/** The warmup batch sizes, or none when `warmup` is off; within the batching limit when on. */
function readWarmup(r: Reader, image: ImageSettings): number[] {
    const text = r.string("warmupBatchSizes") as string;
    if (!r.boolean("warmup")) return [];
    const sizes = text.split(",").map((t) => t.trim());
    const limit = image.enableBatching ? MAX_BATCH_SIZE : Number.MAX_SAFE_INTEGER;
    const bad = sizes.find((t) => !/^\d+$/.test(t) || Number(t) < 1 || Number(t) > limit);
    if (bad !== undefined) {
        fail(
            "warmupBatchSizes",
            text,
            image.enableBatching
                ? `comma-separated batch sizes of 1-${MAX_BATCH_SIZE}, the batching limit (enableBatching), e.g. 1,8,100`
                : "comma-separated positive integers, e.g. 1,8,100",
        );
    }
    return sizes.map(Number);
}

/** Registry credentials, all three or none; the password must be a secret. */
function readRegistry(r: Reader): ImageSettings["registry"] {
    const server = r.raw("registryServer");
    const username = r.raw("registryUsername");
    const password = r.secret("registryPassword");
    if (server === undefined) {
        if (username !== undefined || password !== undefined) {
            fail("registryServer", server, "the registry the credentials are for");
        }
        return undefined;
    }
    const hostProblem = registryHostProblem(server);
    if (hostProblem !== undefined) fail("registryServer", server, hostProblem);
    if (username === undefined) {
        fail("registryUsername", username, `a user name for registry ${server}`);
    }
    if (password === undefined) {
        fail("registryPassword", password, `a secret password for registry ${server}`);
    }
    return { server, username, password };
}

/**
 * GPU serving: `gpu` devices per pod, and the node selector and tolerations that apply only with
 * one (refused without, rather than ignored). `gpuTolerations: none` tolerates no taint.
 */
function readGpu(r: Reader): GpuSettings | undefined {
    const count = r.integer("gpu", 0) as number;
    if (count === 0) {
        for (const key of ["gpuNodeSelector", "gpuTolerations"] as const) {
            const raw = r.raw(key);
            if (raw !== undefined) fail(key, raw, "gpu set to 1 or more, which it applies to");
        }
        return undefined;
    }
    const selector = r.string("gpuNodeSelector");
    const nodeSelector =
        selector === undefined
            ? {}
            : parseLabelList(selector, "node labels", "cloud.google.com/gke-accelerator=nvidia-l4");
    if (typeof nodeSelector === "string") fail("gpuNodeSelector", selector, nodeSelector);
    const taints = r.string("gpuTolerations") ?? DEFAULT_GPU_TOLERATIONS;
    const tolerations = taints === "none" ? [] : parseTolerations(taints);
    if (typeof tolerations === "string") fail("gpuTolerations", taints, `${tolerations}, or none`);
    return { count, nodeSelector, tolerations };
}

function readImage(r: Reader, modelName: string, gpu: GpuSettings | undefined): ImageSettings {
    const registry = readRegistry(r);
    const skipPush = r.boolean("skipPush");
    if (!skipPush && registry === undefined) {
        fail(
            "registryServer",
            undefined,
            "a registry to push to, or skipPush: true for a local cluster",
        );
    }
    const server = registry?.server as string | undefined;
    const repository =
        r.string("imageRepository") ??
        (server === undefined ? "" : `${server}/`) + `${modelName.toLowerCase()}-serving`;
    if (server !== undefined && !repository.startsWith(`${server}/`)) {
        fail("imageRepository", repository, `a repository on registry ${server} (${server}/…)`);
    }
    // Checked here as well as in ServingImage, so the config key is the one named.
    const checked = (key: ConfigKey, value: string, problem: (v: string) => string | undefined) => {
        const expected = problem(value);
        if (expected !== undefined) fail(key, value, expected);
        return value;
    };
    const base = checked("baseImage", r.string("baseImage") as string, imageReferenceProblem);
    const baseImage = gpu === undefined ? base : gpuBaseImage(base);
    if (baseImage === undefined) {
        fail("gpu", gpu?.count, `CPU serving (0) on baseImage ${base}, or ${GPU_BASE_EXPECTED}`);
    }
    return {
        baseImage,
        repository: checked("imageRepository", repository, repositoryProblem),
        platform: checked("platform", r.string("platform") as string, platformProblem),
        skipPush,
        registry,
        enableBatching: r.boolean("enableBatching"),
        enableMonitoring: r.boolean("enableMonitoring"),
    };
}

/** Requests and limits: quantities, and no request above its own limit. */
function readResources(r: Reader): ResourceSizes {
    const resources = {
        cpuRequest: r.string("cpuRequest") as string,
        cpuLimit: r.string("cpuLimit") as string,
        memoryRequest: r.string("memoryRequest") as string,
        memoryLimit: r.string("memoryLimit") as string,
        ephemeralStorageRequest: r.string("ephemeralStorageRequest") as string,
        ephemeralStorageLimit: r.string("ephemeralStorageLimit") as string,
    };
    const problem = resourceProblem(resources);
    if (problem !== undefined) fail(problem.field, resources[problem.field], problem.expected);
    return resources;
}

/** The Gateway of an HTTPRoute, or none; host names without a Gateway are a route without a parent. */
function readGateway(r: Reader): GatewaySettings | undefined {
    const parent = r.string("gatewayParent");
    const hosts = r.string("gatewayHostnames");
    if (parent === undefined) {
        if (hosts !== undefined) {
            fail(
                "gatewayParent",
                undefined,
                `the Gateway (name or namespace/name) an HTTPRoute attaches to: gatewayHostnames (${JSON.stringify(hosts)}) describes a route without a parent`,
            );
        }
        return undefined;
    }
    const ref = parseGatewayParent(parent);
    if (typeof ref === "string") fail("gatewayParent", parent, ref);
    const hostnames = (hosts ?? "")
        .split(",")
        .map((h) => h.trim())
        .filter((h) => h !== "");
    const bad = hostnames.find((h) => hostnameProblem(h) !== undefined);
    if (bad !== undefined) fail("gatewayHostnames", hosts, hostnameProblem(bad) as string);
    return { parentName: ref.name, parentNamespace: ref.namespace, hostnames };
}

/** Who may call the model when `networkPolicy` is on; the allow lists need it on. */
function readNetworkAccess(r: Reader): NetworkAccess | undefined {
    const namespaces = r.string("allowFromNamespaces");
    const pods = r.string("allowFromPods");
    if (!r.boolean("networkPolicy")) {
        for (const [key, value] of [
            ["allowFromNamespaces", namespaces],
            ["allowFromPods", pods],
        ] as const) {
            if (value !== undefined) fail(key, value, "networkPolicy: true, which it applies to");
        }
        return undefined;
    }
    const fromNamespaces = (namespaces ?? "")
        .split(",")
        .map((n) => n.trim())
        .filter((n) => n !== "");
    const badNamespace = fromNamespaces.find((n) => !DNS_LABEL.test(n));
    if (badNamespace !== undefined) {
        fail(
            "allowFromNamespaces",
            namespaces,
            `comma-separated namespace names (${JSON.stringify(badNamespace)} is not a lowercase RFC 1123 label)`,
        );
    }
    const fromPods = pods === undefined ? {} : parsePodLabels(pods);
    if (typeof fromPods === "string") fail("allowFromPods", pods, fromPods);
    return { fromNamespaces, fromPods };
}

function readServing(
    r: Reader,
    image: ImageSettings,
    renderDir: string | undefined,
): StackConfig["serving"] {
    const serviceType = r.oneOf("serviceType", SERVICE_TYPES);
    const explicitNodePort = r.raw("nodePort");
    if (serviceType !== "NodePort" && explicitNodePort !== undefined) {
        fail(
            "nodePort",
            explicitNodePort,
            nodePortProblem(serviceType, Number(explicitNodePort)) as string,
        );
    }
    const replicas = r.integer("replicas", 1) as number;
    const maxReplicas = r.integer("autoscaleMaxReplicas", 1);
    const pdbMinAvailable = r.integer("pdbMinAvailable", 1);
    const scaling = scalingProblem(replicas, maxReplicas, pdbMinAvailable);
    if (scaling !== undefined) {
        const key = scaling.setting === "maxReplicas" ? "autoscaleMaxReplicas" : "pdbMinAvailable";
        fail(key, scaling.value, scaling.expected);
    }
    const nodeHost = r.string("nodeHost") as string;
    const hostProblem = nodeHostProblem(nodeHost);
    if (hostProblem !== undefined) fail("nodeHost", nodeHost, hostProblem);

    const namespace = r.matching("namespace", DNS_LABEL, "a lowercase RFC 1123 label") as string;
    const createNamespace = r.boolean("createNamespace");
    const namespaceProblem = createNamespace ? ownNamespaceProblem(namespace) : undefined;
    if (namespaceProblem !== undefined) fail("namespace", namespace, namespaceProblem);

    return {
        namespace,
        createNamespace,
        replicas,
        resources: readResources(r),
        serviceType,
        nodePort:
            serviceType === "NodePort"
                ? (r.integer("nodePort", 30000, 32767) ?? DEFAULT_NODE_PORT)
                : undefined,
        nodeHost,
        autoscaling:
            maxReplicas === undefined
                ? undefined
                : {
                      maxReplicas,
                      cpuPercent: r.integer("autoscaleCpuPercent", 1, 100) as number,
                      scaleDownWindowSeconds: r.integer("autoscaleScaleDownWindowSeconds", 0, 3600),
                  },
        pdbMinAvailable,
        imagePullSecret: r.matching(
            "imagePullSecret",
            DNS_LABEL,
            "a lowercase RFC 1123 name of a Secret",
        ),
        pullCredentials: readPullCredentials(r, image, renderDir),
        networkAccess: readNetworkAccess(r),
        gateway: readGateway(r),
        // Rendered manifests have no cluster to wait for.
        skipAwait: r.boolean("skipAwait") || renderDir !== undefined,
    };
}

/**
 * The registry credentials the stack turns into an image pull Secret, when asked to. Refused in
 * render mode (the provider writes Secret data to disk in plain text) and next to the name of
 * an existing Secret (a pod template takes one list; say which Secret is meant).
 */
function readPullCredentials(
    r: Reader,
    image: ImageSettings,
    renderDir: string | undefined,
): RegistryArgs | undefined {
    if (!r.boolean("createImagePullSecret")) return undefined;
    const existing = r.string("imagePullSecret");
    if (existing !== undefined) {
        fail(
            "createImagePullSecret",
            "true",
            `false next to imagePullSecret ${JSON.stringify(existing)} (one Secret: the existing one, or one the stack creates)`,
        );
    }
    if (renderDir !== undefined) {
        fail(
            "createImagePullSecret",
            "true",
            "false in render mode (renderDir), which would write the registry password to disk in plain text",
        );
    }
    if (image.skipPush === true || image.registry === undefined) {
        fail(
            "createImagePullSecret",
            "true",
            "registry credentials (registryServer, registryUsername, registryPassword) and skipPush: false, so the pods have a registry to pull from",
        );
    }
    return image.registry;
}

/** Reads and validates the current stack's config. Throws on the first invalid key. */
export function loadStackConfig(): StackConfig {
    const r = new Reader();
    const name = r.matching("modelName", MODEL_NAME_PATTERN, MODEL_NAME_EXPECTED) as string;
    const version = r.integer("modelVersion", 1) as number;
    const renderDir = r.string("renderDir");
    const gpu = readGpu(r);
    const image = readImage(r, name, gpu);
    const training = readTraining(r);
    const serving = { ...readServing(r, image, renderDir), gpu };
    return {
        model: {
            name,
            version,
            source: sourceOf(r.string("modelSource") as string, training),
            warmupBatchSizes: readWarmup(r, image),
        },
        image,
        cluster: { context: r.string("kubeContext"), renderDir },
        serving,
        canary: readCanary(r, version, training, serving),
    };
}
