/**
 * The TF Serving Deployment: the tutorial's single-container Deployment, with probes that wait for
 * the model version, sized resources, a zero-downtime rollout and a restricted security context.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { ObjectMetaArgs, isLabelKey, isLabelValue, objectMeta } from "./objectMeta";
import { GRPC_PORT, REST_PORT, SERVING_UID } from "./servingImage";

/** CPU, memory and local disk for one pod. */
export interface ResourceSizes {
    readonly cpuRequest: string;
    readonly cpuLimit: string;
    readonly memoryRequest: string;
    readonly memoryLimit: string;
    readonly ephemeralStorageRequest: string;
    readonly ephemeralStorageLimit: string;
}

/** Size of the writable `/tmp` emptyDir, the only place TF Serving writes in its container. */
const TMP_SIZE_LIMIT = "64Mi";

/**
 * Default requests and limits per pod: a quarter core and 256 MiB requested, one core and 512 MiB
 * at most. They are starting points, not measurements: no real TF Serving pod has run here yet.
 * The disk limit holds the `/tmp` emptyDir plus the container log the kubelet keeps by default
 * (containerLogMaxFiles 5 of containerLogMaxSize 10Mi, KubeletConfiguration's defaults); the root
 * filesystem is read-only.
 */
export const DEFAULT_RESOURCES: ResourceSizes = {
    cpuRequest: "250m",
    cpuLimit: "1",
    memoryRequest: "256Mi",
    memoryLimit: "512Mi",
    ephemeralStorageRequest: "128Mi",
    ephemeralStorageLimit: "256Mi",
};

/** Each request and the limit it may not exceed. */
const REQUEST_LIMITS = [
    ["cpuRequest", "cpuLimit"],
    ["memoryRequest", "memoryLimit"],
    ["ephemeralStorageRequest", "ephemeralStorageLimit"],
] as const;

/** Kubernetes resource quantities (`250m`, `1`, `0.5`, `512Mi`, `1e3`, `2G`). */
const QUANTITY = /^[+]?(\d+(?:\.\d*)?|\.\d+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?\d+)?$/;
const SUFFIX: Readonly<Record<string, number>> = {
    m: 1e-3,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    P: 1e15,
    E: 1e18,
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
    Pi: 2 ** 50,
    Ei: 2 ** 60,
};
/** How a bad quantity is described. */
export const QUANTITY_EXPECTED = "a Kubernetes quantity such as 250m, 1, 512Mi or 2Gi";

/** The value of a Kubernetes quantity, or undefined when `text` is not one. */
export function quantityValue(text: string): number | undefined {
    const m = QUANTITY.exec(text);
    if (m === null) return undefined;
    const suffix = m[2] ?? "";
    const scale = /^[eE]/.test(suffix) ? 10 ** Number(suffix.slice(1)) : (SUFFIX[suffix] ?? 1);
    return Number(m[1]) * scale;
}

/**
 * The first size that is no quantity, or a request above its own limit (the API server refuses
 * such a pod), as the field and what it should be; undefined when `r` is fine.
 */
export function resourceProblem(
    r: ResourceSizes,
): { field: keyof ResourceSizes; expected: string } | undefined {
    for (const field of REQUEST_LIMITS.flat()) {
        if (quantityValue(r[field]) === undefined) return { field, expected: QUANTITY_EXPECTED };
    }
    for (const [request, limit] of REQUEST_LIMITS) {
        if ((quantityValue(r[request]) as number) > (quantityValue(r[limit]) as number)) {
            return { field: request, expected: `at most ${limit} (${r[limit]})` };
        }
    }
    return undefined;
}

/**
 * How a pod leaves: the kubelet first runs the preStop sleep, while the endpoint controller and
 * every kube-proxy take the terminating pod out of the Service, so requests already routed to it
 * still find it serving. Then SIGTERM, which TF Serving's image never acts on (its entrypoint
 * script runs as PID 1 and starts the server without `exec`), so the grace period only bounds how
 * long in-flight requests get before SIGKILL. Without the two, a pod took Kubernetes' default 30 s
 * to go. The sleep action needs Kubernetes 1.30 or later (beta and on by default from 1.30, GA in
 * 1.34: pkg/features/kube_features.go).
 */
export const DRAIN_SECONDS = 5;
/**
 * The startup probe's period. The readiness probe's own period does not delay a new pod: once
 * the startup probe passes, the kubelet runs the readiness probe at once (UpdatePodStatus in
 * Kubernetes v1.34.4's pkg/kubelet/prober/prober_manager.go).
 */
export const STARTUP_PROBE_SECONDS = 1;
export const TERMINATION_GRACE_SECONDS = 10;

/** The extended resource NVIDIA's device plugin gives each GPU as. */
export const GPU_RESOURCE = "nvidia.com/gpu";
/** The taint GPU node pools commonly carry (GKE's, and NVIDIA's GPU operator docs'). */
export const DEFAULT_GPU_TOLERATIONS = `${GPU_RESOURCE}:NoSchedule`;
/** Taint effects a toleration may name. */
const TAINT_EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"] as const;

/** A taint the pods tolerate: by key alone (any value) or key and value, for one or all effects. */
export interface Toleration {
    readonly key: string;
    readonly operator: "Exists" | "Equal";
    readonly value?: string;
    readonly effect?: (typeof TAINT_EFFECTS)[number];
}

/** Serving on GPUs: whole devices per pod, and the nodes such pods go to. */
export interface GpuSettings {
    /** GPUs per pod, at least 1. */
    readonly count: number;
    /** Node labels the pods require (for example a GPU model's label). */
    readonly nodeSelector: Readonly<Record<string, string>>;
    /** Taints of GPU nodes the pods tolerate. */
    readonly tolerations: readonly Toleration[];
}

/**
 * Parses `key[=value][:effect],...` into tolerations; what was expected when `text` is not that.
 * A key alone tolerates any value of it, and no effect tolerates every effect.
 */
export function parseTolerations(text: string): Toleration[] | string {
    const expected = `comma-separated taints as key[=value][:effect], the effect one of ${TAINT_EFFECTS.join(", ")}, e.g. ${DEFAULT_GPU_TOLERATIONS}`;
    const tolerations: Toleration[] = [];
    for (const item of text.split(",").map((t) => t.trim())) {
        const colon = item.lastIndexOf(":");
        const effect = colon < 0 ? undefined : item.slice(colon + 1);
        const taint = colon < 0 ? item : item.slice(0, colon);
        const eq = taint.indexOf("=");
        const key = eq < 0 ? taint : taint.slice(0, eq);
        const value = eq < 0 ? undefined : taint.slice(eq + 1);
        if (
            !isLabelKey(key) ||
            (value !== undefined && (value === "" || !isLabelValue(value))) ||
            (effect !== undefined && !(TAINT_EFFECTS as readonly string[]).includes(effect))
        ) {
            return expected;
        }
        tolerations.push({
            key,
            operator: value === undefined ? "Exists" : "Equal",
            ...(value === undefined ? {} : { value }),
            ...(effect === undefined ? {} : { effect: effect as Toleration["effect"] }),
        });
    }
    return tolerations;
}

/** Pods when nothing else is said: the tutorial's single replica. */
export const DEFAULT_REPLICAS = 1;

/** Inputs of a ModelDeployment; `labels` also select and label its pods. */
export interface ModelDeploymentArgs extends ObjectMetaArgs {
    /** Image reference, by digest (`repo@sha256:…`) wherever the image was pushed. */
    readonly image: pulumi.Input<string>;
    /** TF Serving model name. */
    readonly modelName: string;
    /** Model version the probes wait for. */
    readonly modelVersion: number;
    /** Pod count. Defaults to `DEFAULT_REPLICAS` (1). */
    readonly replicas?: number;
    /**
     * An autoscaler owns the pod count: `spec.replicas` is left out, so a `pulumi up` does not
     * reset what the autoscaler chose (the autoscaler's minimum stands for `replicas`). Defaults
     * to false.
     */
    readonly autoscaled?: boolean;
    /** Requests and limits. Defaults to `DEFAULT_RESOURCES`. */
    readonly resources?: ResourceSizes;
    /** Extra pod labels, beyond `labels`, that the selector leaves out (such as the track). */
    readonly podLabels?: Record<string, string>;
    /** Extra pod annotations, such as the model's test accuracy. */
    readonly annotations?: Record<string, pulumi.Input<string>>;
    /** Name of an image pull Secret, for private registries. */
    readonly imagePullSecret?: pulumi.Input<string>;
    /** GPUs per pod and the nodes that have them; CPU only when undefined. */
    readonly gpu?: GpuSettings;
}

/** Paths the probes call; exported so tests and docs use the same strings. */
export function probePaths(
    modelName: string,
    modelVersion: number,
): { ready: string; live: string } {
    return {
        // The version's metadata answers 200 only once that version is loaded and can serve. At
        // start-up TF Serving opens no port before its first load, but a version loaded later
        // (a new directory, a config reload) is LOADING while `GET /v1/models/<name>` answers 200.
        ready: `/v1/models/${modelName}/versions/${modelVersion}/metadata`,
        // Liveness only asks whether the server answers at all, so a slow load is not a restart.
        live: `/v1/models/${modelName}`,
    };
}

/** A Deployment running TF Serving for one model version. */
export class ModelDeployment extends pulumi.ComponentResource {
    /** The Deployment object. */
    public readonly deployment: k8s.apps.v1.Deployment;
    /** The Deployment's name in the cluster, which the autoscaler targets. */
    public readonly deploymentName: pulumi.Output<string>;

    constructor(name: string, args: ModelDeploymentArgs, opts?: pulumi.ComponentResourceOptions) {
        super("tfk8s:serving:ModelDeployment", name, {}, opts);
        const replicas = args.replicas ?? DEFAULT_REPLICAS;
        if (!Number.isInteger(replicas) || replicas < 1) {
            throw new pulumi.ResourceError(
                `\`replicas\` is ${replicas}; expected an integer >= 1`,
                this,
            );
        }
        const resources = args.resources ?? DEFAULT_RESOURCES;
        const sizes = resourceProblem(resources);
        if (sizes !== undefined) {
            throw new pulumi.ResourceError(
                `\`resources.${sizes.field}\` is ${JSON.stringify(resources[sizes.field])}; expected ${sizes.expected}`,
                this,
            );
        }
        const gpu = args.gpu;
        if (gpu !== undefined && (!Number.isInteger(gpu.count) || gpu.count < 1)) {
            throw new pulumi.ResourceError(
                `\`gpu.count\` is ${gpu.count}; expected an integer >= 1 (leave gpu out for CPU serving)`,
                this,
            );
        }
        const paths = probePaths(args.modelName, args.modelVersion);
        const httpGet = (p: string) => ({ path: p, port: "http" });

        this.deployment = new k8s.apps.v1.Deployment(
            `${name}-deployment`,
            {
                metadata: objectMeta(args),
                spec: {
                    replicas: args.autoscaled === true ? undefined : replicas,
                    selector: { matchLabels: args.labels },
                    strategy: {
                        type: "RollingUpdate",
                        rollingUpdate: { maxUnavailable: 0, maxSurge: 1 },
                    },
                    template: {
                        metadata: {
                            labels: { ...args.labels, ...args.podLabels },
                            annotations: args.annotations,
                        },
                        spec: {
                            automountServiceAccountToken: false,
                            terminationGracePeriodSeconds: TERMINATION_GRACE_SECONDS,
                            imagePullSecrets:
                                args.imagePullSecret === undefined
                                    ? undefined
                                    : [{ name: args.imagePullSecret }],
                            securityContext: {
                                runAsNonRoot: true,
                                runAsUser: SERVING_UID,
                                runAsGroup: SERVING_UID,
                                fsGroup: SERVING_UID,
                                seccompProfile: { type: "RuntimeDefault" },
                            },
                            containers: [
                                {
                                    name: "tensorflow-serving",
                                    image: args.image,
                                    // Pushed images are pinned by digest and local ones carry a
                                    // content-addressed tag: neither can change under a name,
                                    // so the kubelet pulls once (see docs/policies.md, "What manifest checkers say").
                                    imagePullPolicy: "IfNotPresent",
                                    ports: [
                                        { name: "http", containerPort: REST_PORT },
                                        { name: "grpc", containerPort: GRPC_PORT },
                                    ],
                                    // Every second while the model loads, so a new pod joins
                                    // the Service within a second of serving (each pod of a
                                    // rollout waits for the one before); 5 minutes in all.
                                    startupProbe: {
                                        httpGet: httpGet(paths.ready),
                                        periodSeconds: STARTUP_PROBE_SECONDS,
                                        failureThreshold: (5 * 60) / STARTUP_PROBE_SECONDS,
                                    },
                                    readinessProbe: {
                                        httpGet: httpGet(paths.ready),
                                        periodSeconds: 10,
                                        failureThreshold: 3,
                                    },
                                    livenessProbe: {
                                        httpGet: httpGet(paths.live),
                                        periodSeconds: 20,
                                        failureThreshold: 3,
                                    },
                                    lifecycle: { preStop: { sleep: { seconds: DRAIN_SECONDS } } },
                                    resources: {
                                        requests: {
                                            cpu: resources.cpuRequest,
                                            memory: resources.memoryRequest,
                                            "ephemeral-storage": resources.ephemeralStorageRequest,
                                        },
                                        // A device count needs no request: Kubernetes
                                        // takes an extended resource's limit as its request.
                                        limits: {
                                            cpu: resources.cpuLimit,
                                            memory: resources.memoryLimit,
                                            "ephemeral-storage": resources.ephemeralStorageLimit,
                                            ...(gpu === undefined
                                                ? {}
                                                : { [GPU_RESOURCE]: String(gpu.count) }),
                                        },
                                    },
                                    securityContext: {
                                        allowPrivilegeEscalation: false,
                                        readOnlyRootFilesystem: true,
                                        runAsNonRoot: true,
                                        capabilities: { drop: ["ALL"] },
                                    },
                                    // TF Serving writes only temp files; give it a writable /tmp.
                                    volumeMounts: [{ name: "tmp", mountPath: "/tmp" }],
                                },
                            ],
                            volumes: [{ name: "tmp", emptyDir: { sizeLimit: TMP_SIZE_LIMIT } }],
                            nodeSelector:
                                gpu === undefined || Object.keys(gpu.nodeSelector).length === 0
                                    ? undefined
                                    : { ...gpu.nodeSelector },
                            tolerations:
                                gpu === undefined || gpu.tolerations.length === 0
                                    ? undefined
                                    : gpu.tolerations.map((t) => ({ ...t })),
                            // Spread replicas over nodes when the scheduler can, so one node
                            // going down does not take every pod with it.
                            affinity: {
                                podAntiAffinity: {
                                    preferredDuringSchedulingIgnoredDuringExecution: [
                                        {
                                            weight: 100,
                                            podAffinityTerm: {
                                                topologyKey: "kubernetes.io/hostname",
                                                labelSelector: { matchLabels: args.labels },
                                            },
                                        },
                                    ],
                                },
                            },
                        },
                    },
                },
            },
            { parent: this },
        );
        this.deploymentName = this.deployment.metadata.name;
        this.registerOutputs({ deploymentName: this.deploymentName });
    }
}
