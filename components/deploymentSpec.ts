/**
 * The TF Serving Deployment of one track, as a pure function of its settings: the tutorial's
 * single-container Deployment, with probes that wait for the model version, sized resources, a
 * zero-downtime rollout and a restricted security context.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { ObjectMetaArgs, objectMeta } from "./objectMeta";
import { ResourceSizes } from "./resources";
import { GRPC_PORT, REST_PORT, SERVING_UID } from "./servingImage";

/** Size of the writable `/tmp` emptyDir, the only place TF Serving writes in its container. */
const TMP_SIZE_LIMIT = "64Mi";

/**
 * How a pod leaves: the kubelet first runs the preStop sleep, while the endpoint controller and
 * every kube-proxy take the terminating pod out of the Service, so requests already routed to it
 * still find it serving. Then SIGTERM, which TF Serving's image never acts on (its entrypoint
 * script runs as PID 1 and starts the server without `exec`), so the grace period only bounds how
 * long in-flight requests get before SIGKILL. Without the two, a pod took Kubernetes' default 30 s
 * to go. The sleep action needs Kubernetes 1.30 or later (beta and on by default from 1.30, GA in
 * 1.34: pkg/features/kube_features.go).
 */
const DRAIN_SECONDS = 5;
const TERMINATION_GRACE_SECONDS = 10;
/**
 * The startup probe's period. The readiness probe's own period does not delay a new pod: once
 * the startup probe passes, the kubelet runs the readiness probe at once (UpdatePodStatus in
 * Kubernetes v1.34.4's pkg/kubelet/prober/prober_manager.go).
 */
const STARTUP_PROBE_SECONDS = 1;

/** The extended resource NVIDIA's device plugin gives each GPU as. */
export const GPU_RESOURCE = "nvidia.com/gpu";
/** Taint effects a toleration may name. */
export const TAINT_EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"] as const;

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

/** What the Deployment of one track is made of; `labels` also select and label its pods. */
export interface DeploymentSpecArgs extends ObjectMetaArgs {
    /** Image reference, by digest (`repo@sha256:…`) wherever the image was pushed. */
    readonly image: pulumi.Input<string>;
    /** TF Serving model name. */
    readonly modelName: string;
    /** Model version the probes wait for. */
    readonly modelVersion: number;
    /** Pod count. */
    readonly replicas: number;
    /**
     * An autoscaler owns the pod count: `spec.replicas` is left out, so a `pulumi up` does not
     * reset what the autoscaler chose (the autoscaler's minimum stands for `replicas`).
     */
    readonly autoscaled: boolean;
    /** Requests and limits. */
    readonly resources: ResourceSizes;
    /** Extra pod labels, beyond `labels`, that the selector leaves out (such as the track). */
    readonly podLabels: Record<string, string>;
    /** Annotations of the pods (not of the Deployment), such as the model's test accuracy. */
    readonly podAnnotations: Record<string, string>;
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

/** The Deployment's metadata and spec. */
export function deploymentArgs(args: DeploymentSpecArgs): k8s.apps.v1.DeploymentArgs {
    return {
        metadata: objectMeta(args),
        spec: {
            replicas: args.autoscaled ? undefined : args.replicas,
            selector: { matchLabels: args.labels },
            strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
            template: {
                metadata: {
                    labels: { ...args.labels, ...args.podLabels },
                    annotations: args.podAnnotations,
                },
                spec: podSpec(args),
            },
        },
    };
}

/** One TF Serving pod: the container, the non-root user, where it may run and how it is spread. */
function podSpec(args: DeploymentSpecArgs): k8s.types.input.core.v1.PodSpec {
    const { gpu } = args;
    return {
        automountServiceAccountToken: false,
        terminationGracePeriodSeconds: TERMINATION_GRACE_SECONDS,
        imagePullSecrets:
            args.imagePullSecret === undefined ? undefined : [{ name: args.imagePullSecret }],
        securityContext: {
            runAsNonRoot: true,
            runAsUser: SERVING_UID,
            runAsGroup: SERVING_UID,
            fsGroup: SERVING_UID,
            seccompProfile: { type: "RuntimeDefault" },
        },
        containers: [servingContainer(args)],
        volumes: [{ name: "tmp", emptyDir: { sizeLimit: TMP_SIZE_LIMIT } }],
        nodeSelector:
            gpu === undefined || Object.keys(gpu.nodeSelector).length === 0
                ? undefined
                : { ...gpu.nodeSelector },
        tolerations:
            gpu === undefined || gpu.tolerations.length === 0
                ? undefined
                : gpu.tolerations.map((t) => ({ ...t })),
        // Spread replicas over nodes when the scheduler can, so one node going down does not
        // take every pod with it.
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
    };
}

/** The `tensorflow-serving` container: ports, probes, drain, resources, no privileges. */
function servingContainer(args: DeploymentSpecArgs): k8s.types.input.core.v1.Container {
    const paths = probePaths(args.modelName, args.modelVersion);
    const httpGet = (p: string) => ({ path: p, port: "http" });
    const { resources, gpu } = args;
    return {
        name: "tensorflow-serving",
        image: args.image,
        // Pushed images are pinned by digest and local ones carry a content-addressed tag:
        // neither can change under a name, so the kubelet pulls once (see docs/policies.md,
        // "What manifest checkers say").
        imagePullPolicy: "IfNotPresent",
        ports: [
            { name: "http", containerPort: REST_PORT },
            { name: "grpc", containerPort: GRPC_PORT },
        ],
        // Every second while the model loads, so a new pod joins the Service within a second of
        // serving (each pod of a rollout waits for the one before); 5 minutes in all.
        startupProbe: {
            httpGet: httpGet(paths.ready),
            periodSeconds: STARTUP_PROBE_SECONDS,
            failureThreshold: (5 * 60) / STARTUP_PROBE_SECONDS,
        },
        readinessProbe: { httpGet: httpGet(paths.ready), periodSeconds: 10, failureThreshold: 3 },
        livenessProbe: { httpGet: httpGet(paths.live), periodSeconds: 20, failureThreshold: 3 },
        lifecycle: { preStop: { sleep: { seconds: DRAIN_SECONDS } } },
        resources: {
            requests: {
                cpu: resources.cpuRequest,
                memory: resources.memoryRequest,
                "ephemeral-storage": resources.ephemeralStorageRequest,
            },
            // A device count needs no request: Kubernetes takes an extended resource's limit as
            // its request.
            limits: {
                cpu: resources.cpuLimit,
                memory: resources.memoryLimit,
                "ephemeral-storage": resources.ephemeralStorageLimit,
                ...(gpu === undefined ? {} : { [GPU_RESOURCE]: String(gpu.count) }),
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
    };
}
