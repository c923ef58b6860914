/**
 * The config keys of how the model is served: pods and their sizes, the Service, scaling and
 * budgets, the namespace, GPUs, who may call the model, the Gateway route and the pull Secret.
 */
import { GpuSettings } from "../components/deploymentSpec";
import { NetworkAccess } from "../components/modelNetworkPolicy";
import { GatewaySettings } from "../components/modelRoute";
import { SERVICE_TYPES } from "../components/modelService";
import { ResourceSizes } from "../components/resources";
import { RegistryArgs, ImageSettings } from "../components/servingImage";
import { ServingSettings } from "../components/servingSettings";
import { DEFAULT_GPU_TOLERATIONS, DEFAULT_NODE_PORT } from "../defaults";
import {
    DNS_LABEL,
    parseGatewayParent,
    parseHostnames,
    parseLabelList,
    parseNamespaces,
    parseTolerations,
} from "./formats";
import { Reader, fail } from "./reader";

/** The `serving` slice of the stack config, with the namespace and pod count always set. */
export type ServingConfig = ServingSettings & {
    readonly namespace: string;
    readonly replicas: number;
};

/**
 * The serving keys, each parsed and checked on its own; the checks that span several keys (and
 * the canary) run on the whole config (`checkServing`).
 */
export function readServing(
    r: Reader,
    image: ImageSettings,
    renderDir: string | undefined,
): ServingConfig {
    const serviceType = r.oneOf("serviceType", SERVICE_TYPES);
    const nodePort = r.integer("nodePort", 30000, 32767);
    const maxReplicas = r.integer("autoscaleMaxReplicas", 1);
    return {
        namespace: r.matching("namespace", DNS_LABEL, "a lowercase RFC 1123 label") as string,
        createNamespace: r.boolean("createNamespace"),
        replicas: r.integer("replicas", 1) as number,
        resources: readResources(r),
        serviceType,
        // Set only for NodePort: a node port next to another type is refused by checkServing.
        nodePort: serviceType === "NodePort" ? (nodePort ?? DEFAULT_NODE_PORT) : nodePort,
        nodeHost: r.string("nodeHost") as string,
        autoscaling:
            maxReplicas === undefined
                ? undefined
                : {
                      maxReplicas,
                      cpuPercent: r.integer("autoscaleCpuPercent", 1, 100) as number,
                      scaleDownWindowSeconds: r.integer("autoscaleScaleDownWindowSeconds", 0, 3600),
                  },
        pdbMinAvailable: r.integer("pdbMinAvailable", 1),
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

/** Requests and limits, as the config gives them; `checkServing` checks them. */
function readResources(r: Reader): ResourceSizes {
    return {
        cpuRequest: r.string("cpuRequest") as string,
        cpuLimit: r.string("cpuLimit") as string,
        memoryRequest: r.string("memoryRequest") as string,
        memoryLimit: r.string("memoryLimit") as string,
        ephemeralStorageRequest: r.string("ephemeralStorageRequest") as string,
        ephemeralStorageLimit: r.string("ephemeralStorageLimit") as string,
    };
}

/**
 * GPU serving: `gpu` devices per pod, and the node selector and tolerations that apply only with
 * one (refused without, rather than ignored). `gpuTolerations: none` tolerates no taint.
 */
export function readGpu(r: Reader): GpuSettings | undefined {
    const count = r.integer("gpu", 0) as number;
    if (count === 0) {
        for (const key of ["gpuNodeSelector", "gpuTolerations"] as const) {
            const raw = r.raw(key);
            if (raw !== undefined) fail(key, raw, "gpu set to 1 or more, which it applies to");
        }
        return undefined;
    }
    const selector = r.string("gpuNodeSelector");
    return {
        count,
        nodeSelector:
            selector === undefined
                ? {}
                : parseLabelList(
                      "gpuNodeSelector",
                      selector,
                      "node labels",
                      "cloud.google.com/gke-accelerator=nvidia-l4",
                  ),
        tolerations: parseTolerations(
            "gpuTolerations",
            r.string("gpuTolerations") ?? DEFAULT_GPU_TOLERATIONS,
        ),
    };
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
    return {
        ...parseGatewayParent("gatewayParent", parent),
        hostnames: parseHostnames("gatewayHostnames", hosts),
    };
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
    return {
        fromNamespaces: parseNamespaces("allowFromNamespaces", namespaces),
        fromPods:
            pods === undefined
                ? {}
                : parseLabelList(
                      "allowFromPods",
                      pods,
                      "pod labels",
                      "app.kubernetes.io/name=frontend,tier=web",
                  ),
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
