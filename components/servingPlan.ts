/**
 * What a ModelServing creates, planned from its settings by a pure function: the checks that span
 * several settings, the pods per track, and the names, labels and annotations of every object. No
 * engine and no resources: a test calls `planServing` directly, and the config reader runs the
 * same checks (`checkServing`) before anything is built.
 */
import * as pulumi from "@pulumi/pulumi";
import {
    DEFAULT_NAMESPACE,
    DEFAULT_NODE_HOST,
    DEFAULT_NODE_PORT,
    DEFAULT_REPLICAS,
    DEFAULT_RESOURCES,
    DEFAULT_SERVICE_TYPE,
} from "../defaults";
import { SettingError } from "../programErrors";
import { GatewaySettings } from "./modelRoute";
import { ServiceType, checkNodePort } from "./modelService";
import { TRACK_LABEL, Track, TrackSettings } from "./modelTrack";
import { checkResources } from "./resources";
import { CanaryArgs, ModelServingArgs, ServingSettings } from "./servingSettings";

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

/** The pod annotation naming the base image the serving image was built on. */
export const BASE_IMAGE_ANNOTATION = "tfk8s.dev/base-image";

/** The pod annotation holding the served model's test accuracy, absent when it was not evaluated. */
export const MODEL_ACCURACY_ANNOTATION = "tfk8s.dev/model-accuracy";

/** Kubernetes object names must be RFC 1123 labels; TF Serving model names may hold `_` and `.`. */
export function kubernetesName(modelName: string): string {
    return `${modelName.toLowerCase().replace(/[^a-z0-9-]/g, "-")}-serving`;
}

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
 * 1 of 3), and each track keeps at least one pod. Otherwise a SettingError (`canary.weight`) says
 * what the weight should be.
 *
 * With `routed`, an HTTPRoute splits requests by the weight itself, so any weight of 1-99 goes:
 * the pods follow it as closely as whole pods can, each track keeping at least one.
 */
export function splitReplicas(
    total: number,
    weight: number,
    routed = false,
    resource?: pulumi.Resource,
): TrackReplicas {
    const refuse = (expected: string): never => {
        throw new SettingError("canary.weight", weight, expected, { resource });
    };
    if (weight <= 0) {
        refuse("1-99 for a canary (0 leaves it no pod: to roll back, remove canaryVersion)");
    }
    if (weight >= 100) {
        refuse(
            "1-99 for a canary (100 leaves the stable track no pod: to promote the canary, make it modelVersion)",
        );
    }
    if (total < 2) refuse(`a share of at least 2 pods, one per track (replicas is ${total})`);
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
    return refuse(
        `a share that replicas (${total}) pods give, each pod being ${(100 / total).toFixed(1).replace(/\.0$/, "")}%: ${offered}`,
    );
}

/** What `checkServing` reads: the settings, and of the canary its version and weight. */
export type ServingChecks = Omit<ServingSettings, "pullCredentials"> &
    Pick<ModelServingArgs, "modelVersion"> & {
        readonly canary?: Pick<CanaryArgs, "modelVersion" | "weight">;
    };

/** A host name or an IP address: what goes between `http://` and `:<port>`. */
const HOST_NAME =
    /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])$/;
/** Namespaces every cluster has, which `pulumi destroy` of a stack that created one would delete. */
const CLUSTER_NAMESPACES = ["default", "kube-system", "kube-public", "kube-node-lease"];

/**
 * Checks the settings of a ModelServing, those that span several of them included, and returns
 * the pods per track. Throws a SettingError, naming `resource` when given, at the first that is
 * wrong: the field, its value and what it should be.
 */
export function checkServing(args: ServingChecks, resource?: pulumi.Resource): TrackReplicas {
    const refuse = (key: string, value: unknown, expected: string): never => {
        throw new SettingError(key, value, expected, { resource });
    };
    const replicas = args.replicas ?? DEFAULT_REPLICAS;
    if (!Number.isInteger(replicas) || replicas < 1)
        refuse("replicas", replicas, "an integer >= 1");
    const split = canaryReplicas(args, replicas, resource);
    const maxReplicas = args.autoscaling?.maxReplicas;
    if (maxReplicas !== undefined && maxReplicas < split.stable) {
        refuse("autoscaling.maxReplicas", maxReplicas, `at least replicas (${split.stable})`);
    }
    // A budget that no eviction can satisfy blocks every node drain.
    const pdb = args.pdbMinAvailable;
    if (pdb !== undefined && pdb >= split.stable) {
        const counted = args.canary === undefined ? "replicas" : "the stable track's pods";
        refuse("pdbMinAvailable", pdb, `fewer than ${counted} (${split.stable})`);
    }
    const nodeHost = args.nodeHost ?? DEFAULT_NODE_HOST;
    if (!HOST_NAME.test(nodeHost)) {
        refuse(
            "nodeHost",
            nodeHost,
            "a host name or IP address of a node, without scheme, port or path (e.g. 10.0.0.5)",
        );
    }
    const namespace = args.namespace ?? DEFAULT_NAMESPACE;
    if (args.createNamespace === true && CLUSTER_NAMESPACES.includes(namespace)) {
        refuse(
            "namespace",
            namespace,
            `a namespace of the model's own with createNamespace: true (every cluster has ${JSON.stringify(namespace)})`,
        );
    }
    checkResources(args.resources ?? DEFAULT_RESOURCES, resource);
    checkNodePort(args.serviceType ?? DEFAULT_SERVICE_TYPE, args.nodePort, resource);
    return split;
}

/** How a canary, if any, splits `replicas` pods with the stable track; SettingErrors otherwise. */
function canaryReplicas(
    args: ServingChecks,
    replicas: number,
    resource: pulumi.Resource | undefined,
): TrackReplicas {
    const canary = args.canary;
    if (canary === undefined) return { stable: replicas, canary: 0 };
    if (canary.modelVersion === args.modelVersion) {
        throw new SettingError(
            "canary.modelVersion",
            canary.modelVersion,
            `a version other than the stable track's (${args.modelVersion})`,
            { resource },
        );
    }
    // Next to an autoscaler the split is the stable track's minimum: the autoscaler may add stable
    // pods under load, so the canary's weight is the most of the traffic it gets, never more.
    return splitReplicas(replicas, canary.weight, args.gateway !== undefined, resource);
}

/** What a ModelServing creates besides its tracks, and how. */
export interface ServingPlan {
    /** Pods per track; canary 0 without a canary. */
    readonly replicasByTrack: TrackReplicas;
    /** The namespace's name. */
    readonly namespace: string;
    /** Whether the stack creates the namespace (and deletes it on destroy). */
    readonly createNamespace: boolean;
    /** Object name of what serves both tracks (Service, route, policy, pull Secret's prefix). */
    readonly objectName: string;
    /** Labels of what serves both tracks, which select every track's pods. */
    readonly labels: Record<string, string>;
    /** Annotations of the Deployments and Services, such as skipping the wait for readiness. */
    readonly objectAnnotations?: Record<string, string>;
    /** Each track's component, by Pulumi name, and its objects; the stable track first. */
    readonly tracks: readonly { readonly name: string; readonly settings: TrackSettings }[];
    /** The Service over every track's pods. */
    readonly service: { readonly type: ServiceType; readonly nodePort?: number };
    /** The REST base URL when it is known before the Service exists: a node's, for NodePort. */
    readonly nodeEndpoint?: string;
    /** An HTTPRoute: the Gateway, and with a canary the percent of requests it gets. */
    readonly route?: { readonly gateway: GatewaySettings; readonly canaryWeight?: number };
}

/**
 * The plan of ModelServing `name`: every check of `checkServing`, then the names, labels and
 * annotations of the tracks and of what serves them both.
 */
export function planServing(
    name: string,
    args: ModelServingArgs,
    resource?: pulumi.Resource,
): ServingPlan {
    const replicasByTrack = checkServing(args, resource);
    const type = args.serviceType ?? DEFAULT_SERVICE_TYPE;
    const nodePort = type === "NodePort" ? (args.nodePort ?? DEFAULT_NODE_PORT) : undefined;
    return {
        replicasByTrack,
        namespace: args.namespace ?? DEFAULT_NAMESPACE,
        createNamespace: args.createNamespace === true,
        objectName: kubernetesName(args.modelName),
        labels: servingLabels(args.modelName),
        objectAnnotations: objectAnnotations(args),
        tracks: planTracks(name, args, replicasByTrack),
        service: { type, nodePort: args.nodePort },
        nodeEndpoint:
            nodePort === undefined
                ? undefined
                : `http://${args.nodeHost ?? DEFAULT_NODE_HOST}:${nodePort}`,
        route:
            args.gateway === undefined
                ? undefined
                : { gateway: args.gateway, canaryWeight: args.canary?.weight },
    };
}

/** Rendered manifests and clusters without nodes have no readiness to wait for. */
function objectAnnotations(args: ServingSettings): Record<string, string> | undefined {
    return args.skipAwait === true ? { "pulumi.com/skipAwait": "true" } : undefined;
}

/**
 * The stable track, under the ModelServing's own name and object name as before tracks existed,
 * and the canary's next to it. With a canary each track gets a Service of its own, and the
 * disruption budget covers both: the stable track keeps `pdbMinAvailable` pods, while the canary,
 * often one pod, may lose one at a time, which covers it without blocking a node drain.
 */
function planTracks(
    name: string,
    args: ModelServingArgs,
    replicas: TrackReplicas,
): ServingPlan["tracks"] {
    const objectName = kubernetesName(args.modelName);
    const withCanary = args.canary !== undefined;
    const track = (
        which: Track,
        modelVersion: number,
        accuracy: number | undefined,
    ): ServingPlan["tracks"][number] => {
        const own = which === "stable" ? "" : `-${which}`;
        const budget =
            args.pdbMinAvailable === undefined
                ? undefined
                : which === "stable"
                  ? { minAvailable: args.pdbMinAvailable }
                  : { maxUnavailable: 1 };
        const settings: TrackSettings = {
            track: which,
            modelName: args.modelName,
            modelVersion,
            objectName: `${objectName}${own}`,
            objectAnnotations: objectAnnotations(args),
            labels: trackLabels(args.modelName, which),
            podLabels: { [TRACK_LABEL]: which },
            podAnnotations: modelAnnotations(
                args.modelName,
                modelVersion,
                accuracy,
                args.baseImage,
            ),
            replicas: replicas[which],
            // The autoscaler sizes the stable track only; a canary keeps its share's pods.
            autoscaled: which === "stable" && args.autoscaling !== undefined,
            resources: args.resources ?? DEFAULT_RESOURCES,
            gpu: args.gpu,
            service: withCanary
                ? { name: `${name}-${which}`, objectName: `${objectName}-${which}` }
                : undefined,
            disruptionBudget: budget,
        };
        return { name: `${name}${own}`, settings };
    };
    const stable = track("stable", args.modelVersion, args.modelAccuracy);
    const canary = args.canary;
    return canary === undefined
        ? [stable]
        : [stable, track("canary", canary.modelVersion, canary.modelAccuracy)];
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
        ...(accuracy === undefined ? {} : { [MODEL_ACCURACY_ANNOTATION]: accuracy.toFixed(4) }),
        ...(baseImage === undefined ? {} : { [BASE_IMAGE_ANNOTATION]: baseImage }),
    };
}
