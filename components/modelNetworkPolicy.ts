/**
 * The NetworkPolicy around TF Serving: ingress to the REST and gRPC ports only from the namespaces
 * and pods the user names, and no egress at all: the model is baked into the image, so the server
 * opens no connections (answers to callers are not egress). Enforced once the cluster's network
 * plugin enforces policies.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { ObjectMetaArgs, objectMeta } from "./objectMeta";
import { GRPC_PORT, REST_PORT } from "./servingImage";

/** Who may call the model. With both lists empty, pods of the model's own namespace. */
export interface NetworkAccess {
    /** Namespaces, by name, all of whose pods may call the model. */
    readonly fromNamespaces: readonly string[];
    /** Labels of the pods in the model's namespace that may call it. */
    readonly fromPods: Readonly<Record<string, string>>;
}

/** Inputs of a ModelNetworkPolicy. */
export interface ModelNetworkPolicyArgs extends ObjectMetaArgs {
    /** Labels of the serving pods the policy protects; the Deployment's selector. */
    readonly podSelector: Record<string, string>;
    /** Who may call them. */
    readonly access: NetworkAccess;
}

/** A NetworkPolicy letting the named callers, and only them, reach ports 8501 and 8500. */
export class ModelNetworkPolicy extends pulumi.ComponentResource {
    /** The NetworkPolicy object. */
    public readonly policy: k8s.networking.v1.NetworkPolicy;

    constructor(
        name: string,
        args: ModelNetworkPolicyArgs,
        opts?: pulumi.ComponentResourceOptions,
    ) {
        super("tfk8s:serving:ModelNetworkPolicy", name, {}, opts);
        const { fromNamespaces, fromPods } = args.access;
        const peers: k8s.types.input.networking.v1.NetworkPolicyPeer[] = [
            ...fromNamespaces.map((ns) => ({
                // Kubernetes labels every namespace with its own name (since v1.22).
                namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ns } },
            })),
            ...(Object.keys(fromPods).length > 0
                ? [{ podSelector: { matchLabels: fromPods } }]
                : []),
        ];
        this.policy = new k8s.networking.v1.NetworkPolicy(
            `${name}-netpol`,
            {
                metadata: objectMeta(args),
                spec: {
                    podSelector: { matchLabels: args.podSelector },
                    // Egress listed with no egress rules: every outgoing connection is refused.
                    policyTypes: ["Ingress", "Egress"],
                    ingress: [
                        {
                            // An empty podSelector alone means "pods of this namespace".
                            from: peers.length > 0 ? peers : [{ podSelector: {} }],
                            ports: [
                                { protocol: "TCP", port: REST_PORT },
                                { protocol: "TCP", port: GRPC_PORT },
                            ],
                        },
                    ],
                },
            },
            { parent: this },
        );
        this.registerOutputs({ policy: this.policy });
    }
}
