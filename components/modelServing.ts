/**
 * Everything that serves one model: Deployment and Service, plus an autoscaler and a disruption
 * budget when configured. One labels object feeds the selector, the pod template and the Service.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { DEFAULT_REPLICAS, GpuSettings, ModelDeployment, ResourceSizes } from "./modelDeployment";
import { ModelNetworkPolicy, NetworkAccess } from "./modelNetworkPolicy";
import { GatewaySettings, ModelRoute } from "./modelRoute";
import { DEFAULT_NODE_PORT, DEFAULT_SERVICE_TYPE, ModelService, ServiceType } from "./modelService";
import { objectMeta } from "./objectMeta";
import { REST_PORT, RegistryArgs } from "./servingImage";

/** Kubernetes' own default namespace. */
export const DEFAULT_NAMESPACE = "default";
/**
 * Pod Security admission labels of the namespace the stack creates: the API server refuses any
 * pod there that breaks the `restricted` standard (a privileged container, a root user, a host
 * path), with the standard's version pinned so a cluster upgrade cannot change what it checks.
 * Our pods meet it (runAsNonRoot, no privilege escalation, every capability dropped, the
 * RuntimeDefault seccomp profile).
 */
export const POD_SECURITY_LABELS = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "v1.34",
};

/** The node host of the endpoint URL when nothing else is said: a local cluster. */
export const DEFAULT_NODE_HOST = "localhost";

/** How the model is served: the stack config's `serving` slice. */
export interface ServingSettings {
    /** Namespace. Defaults to `DEFAULT_NAMESPACE`. */
    readonly namespace?: string;
    /** Creates `namespace` (deleted again on destroy) instead of expecting it. Defaults to false. */
    readonly createNamespace?: boolean;
    /** Pod count (the autoscaler's minimum). Defaults to `DEFAULT_REPLICAS`. */
    readonly replicas?: number;
    /** Requests and limits per pod. Defaults to `DEFAULT_RESOURCES`. */
    readonly resources?: ResourceSizes;
    /** Service type. Defaults to `DEFAULT_SERVICE_TYPE`. */
    readonly serviceType?: ServiceType;
    /** Node port of the REST port. Defaults to `DEFAULT_NODE_PORT` for NodePort. */
    readonly nodePort?: number;
    /** Node host name for the endpoint of a NodePort Service. Defaults to `DEFAULT_NODE_HOST`. */
    readonly nodeHost?: string;
    /** Adds a HorizontalPodAutoscaler on CPU. */
    readonly autoscaling?: {
        readonly maxReplicas: number;
        readonly cpuPercent: number;
        /** Seconds of lower load before a scale-down. Defaults to Kubernetes' 300. */
        readonly scaleDownWindowSeconds?: number;
    };
    /** Adds a PodDisruptionBudget keeping this many pods. */
    readonly pdbMinAvailable?: number;
    /** Name of an existing image pull Secret. */
    readonly imagePullSecret?: string;
    /** Registry credentials to create the pods' image pull Secret from (instead of naming one). */
    readonly pullCredentials?: RegistryArgs;
    /** Adds a NetworkPolicy admitting only these callers. */
    readonly networkAccess?: NetworkAccess;
    /** Don't wait for readiness (render mode, clusters without nodes). Defaults to false. */
    readonly skipAwait?: boolean;
    /** GPUs per pod and the nodes that have them, for both tracks; CPU only when undefined. */
    readonly gpu?: GpuSettings;
    /** An HTTPRoute on this Gateway, splitting by exact weights when there is a canary. */
    readonly gateway?: GatewaySettings;
}

/** A second model served next to the stable one, taking a share of the traffic. */
export interface CanaryArgs {
    /** Image reference of the canary's model, by digest wherever it was pushed. */
    readonly image: pulumi.Input<string>;
    /** The canary's model version; not the stable one's. */
    readonly modelVersion: number;
    /** Test accuracy of the canary's model, recorded as a pod annotation. */
    readonly modelAccuracy?: number;
    /** Percent of the pods, and so of the Service's traffic, the canary gets (see `splitReplicas`). */
    readonly weight: number;
}

/** Inputs of a ModelServing: the settings plus the image and the model it serves. */
export interface ModelServingArgs extends ServingSettings {
    /** Image reference, by digest wherever the image was pushed. */
    readonly image: pulumi.Input<string>;
    /** TF Serving model name. */
    readonly modelName: string;
    /** Model version. */
    readonly modelVersion: number;
    /** Test accuracy of the model, recorded as a pod annotation. */
    readonly modelAccuracy?: number;
    /**
     * The base image both tracks' images were built on, recorded as a pod annotation: the pods
     * name their images by digest, so this is where a reader (or a policy) sees the variant.
     */
    readonly baseImage?: string;
    /** A canary track next to the stable one; `replicas` is then the pods of both. */
    readonly canary?: CanaryArgs;
}

/**
 * A `kubernetes.io/dockerconfigjson` payload for one registry, kept secret: the kubelet hands the
 * user name and password to the runtime for pulls from `server` only.
 */
export function dockerConfigJson(registry: RegistryArgs): pulumi.Output<string> {
    return pulumi.secret(
        pulumi
            .all([registry.server, registry.username, registry.password])
            .apply(([server, username, password]) =>
                JSON.stringify({
                    auths: {
                        [server]: {
                            username,
                            password,
                            auth: Buffer.from(`${username}:${password}`).toString("base64"),
                        },
                    },
                }),
            ),
    );
}

/** A host name or an IP address: what goes between `http://` and `:<port>`. */
const HOST_NAME =
    /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])$/;

/** What a node host must be, or undefined when `host` is fine (no scheme, port or path). */
export function nodeHostProblem(host: string): string | undefined {
    return HOST_NAME.test(host)
        ? undefined
        : "a host name or IP address of a node, without scheme, port or path (e.g. 10.0.0.5)";
}

/**
 * What a namespace the stack creates must be, or undefined when `namespace` is fine: not one
 * every cluster already has, which `pulumi destroy` would then try to delete.
 */
export function ownNamespaceProblem(namespace: string): string | undefined {
    return ["default", "kube-system", "kube-public", "kube-node-lease"].includes(namespace)
        ? `a namespace of the model's own with createNamespace: true (every cluster has ${JSON.stringify(namespace)})`
        : undefined;
}

/** A scaling setting that does not fit the replica count. */
export interface ScalingProblem {
    readonly setting: "maxReplicas" | "pdbMinAvailable";
    readonly value: number;
    readonly expected: string;
}

/**
 * The autoscaler's maximum must reach the replica count, and a disruption budget must leave a
 * pod to evict: one that no eviction can satisfy blocks every node drain.
 */
export function scalingProblem(
    replicas: number,
    maxReplicas: number | undefined,
    pdbMinAvailable: number | undefined,
    counted = "replicas",
): ScalingProblem | undefined {
    if (maxReplicas !== undefined && maxReplicas < replicas) {
        return {
            setting: "maxReplicas",
            value: maxReplicas,
            expected: `at least replicas (${replicas})`,
        };
    }
    if (pdbMinAvailable !== undefined && pdbMinAvailable >= replicas) {
        return {
            setting: "pdbMinAvailable",
            value: pdbMinAvailable,
            expected: `fewer than ${counted} (${replicas})`,
        };
    }
    return undefined;
}

/** Kubernetes object names must be RFC 1123 labels; TF Serving model names may hold `_` and `.`. */
export function kubernetesName(modelName: string): string {
    return `${modelName.toLowerCase().replace(/[^a-z0-9-]/g, "-")}-serving`;
}

/** The pod annotation naming the base image the serving image was built on. */
export const BASE_IMAGE_ANNOTATION = "tfk8s.dev/base-image";

/** The pod label that names a pod's track, `stable` or `canary`. */
export const TRACK_LABEL = "tfk8s.dev/track";
export type Track = "stable" | "canary";

/**
 * Recommended `app.kubernetes.io/*` labels every pod of one model carries, on either track: what
 * the model's Service and NetworkPolicy select, so one Service splits traffic over both tracks.
 */
export function servingLabels(modelName: string): Record<string, string> {
    return {
        "app.kubernetes.io/name": kubernetesName(modelName),
        "app.kubernetes.io/part-of": "tfk8s",
        "app.kubernetes.io/managed-by": "pulumi",
    };
}

/**
 * A track's own labels: its Deployment's selector, its Service's and its disruption budget's.
 * The tracks differ in `app.kubernetes.io/component`, not only in the track label, because the
 * stable Deployment's selector is the one it had before tracks existed: a selector cannot change
 * without replacing the Deployment, which under one name means deleting it first.
 */
export function trackLabels(modelName: string, track: Track): Record<string, string> {
    return {
        ...servingLabels(modelName),
        "app.kubernetes.io/component": track === "stable" ? "model-server" : "canary-model-server",
    };
}

/** Pods per track. */
export interface TrackReplicas {
    readonly stable: number;
    readonly canary: number;
}

/**
 * How `total` pods split so that the canary gets `weight` percent of them, and so of the
 * Service's new connections (kube-proxy spreads them evenly over ready endpoints). One pod is
 * 100/total percent: a weight is accepted when it is that share rounded to a whole percent (33 for
 * 1 of 3), and each track keeps at least one pod. Otherwise what the weight should be.
 *
 * With `routed`, an HTTPRoute splits requests by the weight itself, so any weight of 1-99 goes:
 * the pods follow it as closely as whole pods can, each track keeping at least one.
 */
export function splitReplicas(
    total: number,
    weight: number,
    routed = false,
): TrackReplicas | string {
    if (weight <= 0 || weight >= 100) {
        return weight <= 0
            ? "1-99 for a canary (0 leaves it no pod: to roll back, remove canaryVersion)"
            : "1-99 for a canary (100 leaves the stable track no pod: to promote the canary, make it modelVersion)";
    }
    if (total < 2) {
        return `a share of at least 2 pods, one per track (replicas is ${total})`;
    }
    const share = (pods: number) => Math.round((100 * pods) / total);
    const canary = Math.min(total - 1, Math.max(1, Math.round((total * weight) / 100)));
    if (routed || share(canary) === weight) return { stable: total - canary, canary };
    const shares = Array.from({ length: total - 1 }, (_, i) => i + 1).map(
        (pods) => `${share(pods)} (${pods} of ${total})`,
    );
    // Many shares: the two around the weight.
    const below = Math.max(1, Math.floor((total * weight) / 100));
    const offered =
        shares.length <= 10
            ? shares.join(", ")
            : `the nearest are ${shares.slice(below - 1, below + 1).join(" and ")}`;
    return `a share that replicas (${total}) pods give, each pod being ${(100 / total).toFixed(1).replace(/\.0$/, "")}%: ${offered}`;
}

/** The pod annotations that say which model a pod serves. */
function modelAnnotations(
    modelName: string,
    modelVersion: number,
    accuracy: number | undefined,
    baseImage: string | undefined,
): Record<string, string> {
    return {
        "tfk8s.dev/model-name": modelName,
        "tfk8s.dev/model-version": String(modelVersion),
        ...(accuracy === undefined ? {} : { "tfk8s.dev/model-accuracy": accuracy.toFixed(4) }),
        ...(baseImage === undefined ? {} : { [BASE_IMAGE_ANNOTATION]: baseImage }),
    };
}

/**
 * How a canary splits `replicas` pods with `args`' stable track, or what is wrong with it: the
 * field, its value and what it should be.
 */
export function canaryReplicas(
    args: Pick<ModelServingArgs, "modelVersion" | "autoscaling" | "gateway">,
    canary: Pick<CanaryArgs, "modelVersion" | "weight">,
    replicas: number,
): TrackReplicas | { field: "modelVersion" | "weight"; value: number; expected: string } {
    if (canary.modelVersion === args.modelVersion) {
        return {
            field: "modelVersion",
            value: canary.modelVersion,
            expected: `a version other than the stable track's (${args.modelVersion})`,
        };
    }
    if (args.autoscaling !== undefined) {
        return {
            field: "weight",
            value: canary.weight,
            expected:
                "no canary while an autoscaler sizes the stable track: the weight splits a fixed pod count, which the autoscaler would change",
        };
    }
    const split = splitReplicas(replicas, canary.weight, args.gateway !== undefined);
    return typeof split === "string"
        ? { field: "weight", value: canary.weight, expected: split }
        : split;
}

/** A served model and the URLs to call it. */
export class ModelServing extends pulumi.ComponentResource {
    /** REST base URL, e.g. `http://localhost:30111`. */
    public readonly endpoint: pulumi.Output<string>;
    /** `<endpoint>/v1/models/<name>:predict`. */
    public readonly predictUrl: pulumi.Output<string>;
    /** The stable track's Deployment. */
    public readonly deployment: ModelDeployment;
    /** The Service over both tracks' pods. */
    public readonly service: ModelService;
    /** Pods per track; canary 0 without a canary. */
    public readonly replicasByTrack: TrackReplicas;
    /** With a canary: its Deployment, and a ClusterIP Service per track to reach one track. */
    public readonly canaryDeployment?: ModelDeployment;
    public readonly trackServices?: Readonly<Record<Track, ModelService>>;
    public readonly canaryDisruptionBudget?: k8s.policy.v1.PodDisruptionBudget;
    public readonly autoscaler?: k8s.autoscaling.v2.HorizontalPodAutoscaler;
    public readonly disruptionBudget?: k8s.policy.v1.PodDisruptionBudget;
    public readonly networkPolicy?: ModelNetworkPolicy;
    /** The HTTPRoute, when a Gateway is named. */
    public readonly route?: ModelRoute;
    public readonly namespace?: k8s.core.v1.Namespace;
    /** The image pull Secret, when the stack creates it from registry credentials. */
    public readonly pullSecret?: k8s.core.v1.Secret;

    constructor(name: string, args: ModelServingArgs, opts?: pulumi.ComponentResourceOptions) {
        super("tfk8s:serving:ModelServing", name, {}, opts);
        const replicas = args.replicas ?? DEFAULT_REPLICAS;
        const canary = args.canary;
        this.replicasByTrack = { stable: replicas, canary: 0 };
        if (canary !== undefined) {
            const split = canaryReplicas(args, canary, replicas);
            if ("field" in split) {
                throw new pulumi.ResourceError(
                    `\`canary.${split.field}\` is ${JSON.stringify(split.value)}; expected ${split.expected}`,
                    this,
                );
            }
            this.replicasByTrack = split;
        }
        const scaling = scalingProblem(
            this.replicasByTrack.stable,
            args.autoscaling?.maxReplicas,
            args.pdbMinAvailable,
            canary === undefined ? "replicas" : "the stable track's pods",
        );
        if (scaling !== undefined) {
            const field =
                scaling.setting === "maxReplicas" ? "autoscaling.maxReplicas" : "pdbMinAvailable";
            throw new pulumi.ResourceError(
                `\`${field}\` is ${scaling.value}; expected ${scaling.expected}`,
                this,
            );
        }
        const hostProblem = nodeHostProblem(args.nodeHost ?? DEFAULT_NODE_HOST);
        if (hostProblem !== undefined) {
            throw new pulumi.ResourceError(
                `\`nodeHost\` is ${JSON.stringify(args.nodeHost)}; expected ${hostProblem}`,
                this,
            );
        }
        const namespaceName = args.namespace ?? DEFAULT_NAMESPACE;
        const namespaceProblem =
            args.createNamespace === true ? ownNamespaceProblem(namespaceName) : undefined;
        if (namespaceProblem !== undefined) {
            throw new pulumi.ResourceError(
                `\`namespace\` is ${JSON.stringify(namespaceName)}; expected ${namespaceProblem}`,
                this,
            );
        }
        const labels = servingLabels(args.modelName);
        const stableLabels = trackLabels(args.modelName, "stable");
        const metaName = kubernetesName(args.modelName);
        const child = { parent: this };
        if (args.createNamespace === true) {
            this.namespace = new k8s.core.v1.Namespace(
                `${name}-namespace`,
                {
                    metadata: {
                        name: args.namespace,
                        labels: { "app.kubernetes.io/part-of": "tfk8s", ...POD_SECURITY_LABELS },
                    },
                },
                child,
            );
        }
        // Every namespaced object takes the name through the Namespace's output, so it is created
        // after the Namespace and deleted before it.
        const namespace: pulumi.Input<string> | undefined =
            this.namespace?.metadata.name ?? args.namespace;
        const annotations = modelAnnotations(
            args.modelName,
            args.modelVersion,
            args.modelAccuracy,
            args.baseImage,
        );
        // The autoscaler and the budget carry the stable track's name and labels, no annotations.
        const ownMeta = objectMeta({ objectName: metaName, namespace, labels: stableLabels });
        const objectAnnotations =
            args.skipAwait === true ? { "pulumi.com/skipAwait": "true" } : undefined;

        if (args.pullCredentials !== undefined) {
            this.pullSecret = new k8s.core.v1.Secret(
                `${name}-pull-secret`,
                {
                    metadata: objectMeta({
                        objectName: `${metaName}-pull`,
                        namespace,
                        labels,
                    }),
                    type: "kubernetes.io/dockerconfigjson",
                    stringData: { ".dockerconfigjson": dockerConfigJson(args.pullCredentials) },
                },
                child,
            );
        }

        this.deployment = new ModelDeployment(
            name,
            {
                image: args.image,
                modelName: args.modelName,
                modelVersion: args.modelVersion,
                objectName: metaName,
                objectAnnotations,
                labels: stableLabels,
                podLabels: { [TRACK_LABEL]: "stable" },
                namespace,
                replicas: this.replicasByTrack.stable,
                autoscaled: args.autoscaling !== undefined,
                resources: args.resources,
                annotations,
                imagePullSecret: this.pullSecret?.metadata.name ?? args.imagePullSecret,
                gpu: args.gpu,
            },
            child,
        );
        if (canary !== undefined) {
            const canaryLabels = trackLabels(args.modelName, "canary");
            this.canaryDeployment = new ModelDeployment(
                `${name}-canary`,
                {
                    image: canary.image,
                    modelName: args.modelName,
                    modelVersion: canary.modelVersion,
                    objectName: `${metaName}-canary`,
                    objectAnnotations,
                    labels: canaryLabels,
                    podLabels: { [TRACK_LABEL]: "canary" },
                    namespace,
                    replicas: this.replicasByTrack.canary,
                    resources: args.resources,
                    annotations: modelAnnotations(
                        args.modelName,
                        canary.modelVersion,
                        canary.modelAccuracy,
                        args.baseImage,
                    ),
                    gpu: args.gpu,
                    imagePullSecret: this.pullSecret?.metadata.name ?? args.imagePullSecret,
                },
                child,
            );
            const trackService = (track: Track, selector: Record<string, string>) =>
                new ModelService(
                    `${name}-${track}`,
                    {
                        objectName: `${metaName}-${track}`,
                        objectAnnotations,
                        selector,
                        labels: selector,
                        namespace,
                        type: "ClusterIP",
                    },
                    child,
                );
            this.trackServices = {
                stable: trackService("stable", stableLabels),
                canary: trackService("canary", canaryLabels),
            };
            if (args.pdbMinAvailable !== undefined) {
                // The canary has few pods, often one: a budget that lets one go at a time covers
                // it without blocking a node drain.
                this.canaryDisruptionBudget = new k8s.policy.v1.PodDisruptionBudget(
                    `${name}-canary-pdb`,
                    {
                        metadata: objectMeta({
                            objectName: `${metaName}-canary`,
                            namespace,
                            labels: canaryLabels,
                        }),
                        spec: { maxUnavailable: 1, selector: { matchLabels: canaryLabels } },
                    },
                    child,
                );
            }
        }
        this.service = new ModelService(
            name,
            {
                objectName: metaName,
                objectAnnotations,
                selector: labels,
                labels,
                namespace,
                type: args.serviceType,
                nodePort: args.nodePort,
            },
            child,
        );
        if (args.gateway !== undefined) {
            const tracks = this.trackServices;
            this.route = new ModelRoute(
                name,
                {
                    objectName: metaName,
                    objectAnnotations,
                    labels,
                    namespace,
                    gateway: args.gateway,
                    backends:
                        tracks === undefined || canary === undefined
                            ? [{ serviceName: this.service.serviceName }]
                            : [
                                  {
                                      serviceName: tracks.stable.serviceName,
                                      weight: 100 - canary.weight,
                                  },
                                  { serviceName: tracks.canary.serviceName, weight: canary.weight },
                              ],
                },
                child,
            );
        }
        if (args.autoscaling !== undefined) {
            this.autoscaler = new k8s.autoscaling.v2.HorizontalPodAutoscaler(
                `${name}-hpa`,
                {
                    metadata: ownMeta,
                    spec: {
                        scaleTargetRef: {
                            apiVersion: "apps/v1",
                            kind: "Deployment",
                            name: this.deployment.deploymentName,
                        },
                        minReplicas: replicas,
                        maxReplicas: args.autoscaling.maxReplicas,
                        ...(args.autoscaling.scaleDownWindowSeconds === undefined
                            ? {}
                            : {
                                  behavior: {
                                      scaleDown: {
                                          stabilizationWindowSeconds:
                                              args.autoscaling.scaleDownWindowSeconds,
                                      },
                                  },
                              }),
                        metrics: [
                            {
                                type: "Resource",
                                resource: {
                                    name: "cpu",
                                    target: {
                                        type: "Utilization",
                                        averageUtilization: args.autoscaling.cpuPercent,
                                    },
                                },
                            },
                        ],
                    },
                },
                child,
            );
        }
        if (args.pdbMinAvailable !== undefined) {
            this.disruptionBudget = new k8s.policy.v1.PodDisruptionBudget(
                `${name}-pdb`,
                {
                    metadata: ownMeta,
                    spec: {
                        minAvailable: args.pdbMinAvailable,
                        selector: { matchLabels: stableLabels },
                    },
                },
                child,
            );
        }

        if (args.networkAccess !== undefined) {
            this.networkPolicy = new ModelNetworkPolicy(
                name,
                {
                    objectName: metaName,
                    labels,
                    namespace,
                    podSelector: labels,
                    access: args.networkAccess,
                },
                child,
            );
        }

        const type = args.serviceType ?? DEFAULT_SERVICE_TYPE;
        const nodeHost = args.nodeHost ?? DEFAULT_NODE_HOST;
        this.endpoint =
            type === "NodePort"
                ? pulumi.output(`http://${nodeHost}:${args.nodePort ?? DEFAULT_NODE_PORT}`)
                : pulumi.interpolate`http://${this.service.serviceName}.${namespaceName}.svc.cluster.local:${REST_PORT}`;
        this.predictUrl = pulumi.interpolate`${this.endpoint}/v1/models/${args.modelName}:predict`;
        this.registerOutputs({ endpoint: this.endpoint, predictUrl: this.predictUrl });
    }
}
