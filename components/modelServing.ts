/**
 * Everything that serves one model: Deployment and Service, plus an autoscaler and a disruption
 * budget when configured. One labels object feeds the selector, the pod template and the Service.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { DEFAULT_REPLICAS, ModelDeployment, ResourceSizes } from "./modelDeployment";
import { ModelNetworkPolicy, NetworkAccess } from "./modelNetworkPolicy";
import { DEFAULT_NODE_PORT, DEFAULT_SERVICE_TYPE, ModelService, ServiceType } from "./modelService";
import { objectMeta } from "./objectMeta";
import { REST_PORT, RegistryArgs } from "./servingImage";

/** Kubernetes' own default namespace. */
export const DEFAULT_NAMESPACE = "default";
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
    readonly autoscaling?: { readonly maxReplicas: number; readonly cpuPercent: number };
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
            expected: `fewer than replicas (${replicas})`,
        };
    }
    return undefined;
}

/** Kubernetes object names must be RFC 1123 labels; TF Serving model names may hold `_` and `.`. */
export function kubernetesName(modelName: string): string {
    return `${modelName.toLowerCase().replace(/[^a-z0-9-]/g, "-")}-serving`;
}

/** Recommended `app.kubernetes.io/*` labels for one model. */
export function servingLabels(modelName: string): Record<string, string> {
    return {
        "app.kubernetes.io/name": kubernetesName(modelName),
        "app.kubernetes.io/component": "model-server",
        "app.kubernetes.io/part-of": "tfk8s",
        "app.kubernetes.io/managed-by": "pulumi",
    };
}

/** A served model and the URLs to call it. */
export class ModelServing extends pulumi.ComponentResource {
    /** REST base URL, e.g. `http://localhost:30111`. */
    public readonly endpoint: pulumi.Output<string>;
    /** `<endpoint>/v1/models/<name>:predict`. */
    public readonly predictUrl: pulumi.Output<string>;
    public readonly deployment: ModelDeployment;
    public readonly service: ModelService;
    public readonly autoscaler?: k8s.autoscaling.v2.HorizontalPodAutoscaler;
    public readonly disruptionBudget?: k8s.policy.v1.PodDisruptionBudget;
    public readonly networkPolicy?: ModelNetworkPolicy;
    public readonly namespace?: k8s.core.v1.Namespace;
    /** The image pull Secret, when the stack creates it from registry credentials. */
    public readonly pullSecret?: k8s.core.v1.Secret;

    constructor(name: string, args: ModelServingArgs, opts?: pulumi.ComponentResourceOptions) {
        super("tfk8s:serving:ModelServing", name, {}, opts);
        const replicas = args.replicas ?? DEFAULT_REPLICAS;
        const scaling = scalingProblem(
            replicas,
            args.autoscaling?.maxReplicas,
            args.pdbMinAvailable,
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
        const metaName = kubernetesName(args.modelName);
        const child = { parent: this };
        if (args.createNamespace === true) {
            this.namespace = new k8s.core.v1.Namespace(
                `${name}-namespace`,
                {
                    metadata: {
                        name: args.namespace,
                        labels: { "app.kubernetes.io/part-of": "tfk8s" },
                    },
                },
                child,
            );
        }
        // Every namespaced object takes the name through the Namespace's output, so it is created
        // after the Namespace and deleted before it.
        const namespace: pulumi.Input<string> | undefined =
            this.namespace?.metadata.name ?? args.namespace;
        const annotations: Record<string, string> = {
            "tfk8s.dev/model-name": args.modelName,
            "tfk8s.dev/model-version": String(args.modelVersion),
        };
        if (args.modelAccuracy !== undefined) {
            annotations["tfk8s.dev/model-accuracy"] = args.modelAccuracy.toFixed(4);
        }
        // The autoscaler and the budget carry the model's name and labels, and no annotations.
        const ownMeta = objectMeta({ objectName: metaName, namespace, labels });
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
                labels,
                namespace,
                replicas,
                autoscaled: args.autoscaling !== undefined,
                resources: args.resources,
                annotations,
                imagePullSecret: this.pullSecret?.metadata.name ?? args.imagePullSecret,
            },
            child,
        );
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
                    spec: { minAvailable: args.pdbMinAvailable, selector: { matchLabels: labels } },
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
