/**
 * The serving defaults: what a stack gets when its config says nothing. The config declarations
 * (`configKeys.ts`), the config reader and the components all read them here, so the three cannot
 * disagree. The training defaults are the training code's own (`model/training`).
 */

/** Kubernetes' own default namespace. */
export const DEFAULT_NAMESPACE = "default";
/** Pods when nothing else is said: the tutorial's single replica. */
export const DEFAULT_REPLICAS = 1;
/** The tutorial's Service type. */
export const DEFAULT_SERVICE_TYPE = "NodePort";
/** The tutorial's NodePort. */
export const DEFAULT_NODE_PORT = 30111;
/** The node host of the endpoint URL when nothing else is said: a local cluster. */
export const DEFAULT_NODE_HOST = "localhost";
/** The autoscaler's CPU target, in percent of the request. */
export const DEFAULT_AUTOSCALE_CPU_PERCENT = 70;

/**
 * Default requests and limits per pod: a quarter core and 256 MiB requested, one core and 512 MiB
 * at most. They are starting points, not measurements: no real TF Serving pod has run here yet.
 * The disk limit holds the `/tmp` emptyDir plus the container log the kubelet keeps by default
 * (containerLogMaxFiles 5 of containerLogMaxSize 10Mi, KubeletConfiguration's defaults); the root
 * filesystem is read-only.
 */
export const DEFAULT_RESOURCES = {
    cpuRequest: "250m",
    cpuLimit: "1",
    memoryRequest: "256Mi",
    memoryLimit: "512Mi",
    ephemeralStorageRequest: "128Mi",
    ephemeralStorageLimit: "256Mi",
} as const;

/**
 * The taints GPU pods tolerate, in the config's format: the one GPU node pools commonly carry
 * (GKE's, and NVIDIA's GPU operator docs'), on the resource GPUs are counted in.
 */
export const DEFAULT_GPU_TOLERATIONS = "nvidia.com/gpu:NoSchedule";

/** The TF Serving release the image builds on when nothing else is said. */
export const DEFAULT_BASE_IMAGE = "tensorflow/serving:2.20.0";
/** The platform the image is built for when nothing else is said. */
export const DEFAULT_PLATFORM = "linux/amd64";

/** Seconds of live traffic a rollout judges the canary on after each step. */
export const DEFAULT_ROLLOUT_WINDOW_SECONDS = 60;
/** The largest share of failed canary requests a rollout step accepts. */
export const DEFAULT_ROLLOUT_MAX_ERROR_RATE = 0.01;
/**
 * The largest canary p99 / stable p99 a rollout step accepts. Not tighter than 2: TF Serving's
 * latency buckets grow by a factor of 1.8, so a p99 read from them is only that fine.
 */
export const DEFAULT_ROLLOUT_MAX_LATENCY_RATIO = 2;
