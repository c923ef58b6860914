/**
 * The Service in front of TF Serving: NodePort 30111 as in the tutorial, or ClusterIP or
 * LoadBalancer by config, with the REST and gRPC ports named.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { DEFAULT_NODE_PORT, DEFAULT_SERVICE_TYPE } from "../defaults";
import { SettingError } from "../programErrors";
import { ObjectMetaArgs, objectMeta } from "./objectMeta";
import { GRPC_PORT, REST_PORT } from "./servingImage";

/** Service types a model can be exposed with. */
export const SERVICE_TYPES = ["NodePort", "ClusterIP", "LoadBalancer"] as const;
/** One of `SERVICE_TYPES`. */
export type ServiceType = (typeof SERVICE_TYPES)[number];

/**
 * Throws a SettingError unless `nodePort` fits a Service of `type`: only NodePort Services take
 * one, in Kubernetes' default node-port range.
 */
export function checkNodePort(
    type: ServiceType,
    nodePort: number | undefined,
    resource?: pulumi.Resource,
): void {
    if (nodePort === undefined) return;
    if (type !== "NodePort") {
        throw new SettingError(
            "nodePort",
            nodePort,
            `no nodePort with serviceType ${type} (only NodePort services have one)`,
            { resource },
        );
    }
    if (!Number.isInteger(nodePort) || nodePort < 30000 || nodePort > 32767) {
        throw new SettingError("nodePort", nodePort, "an integer in 30000-32767", { resource });
    }
}

/** Inputs of a ModelService. */
export interface ModelServiceArgs extends ObjectMetaArgs {
    /** Pod labels to select; the same object the Deployment uses. */
    readonly selector: Record<string, string>;
    /** `NodePort`, `ClusterIP` or `LoadBalancer`. Defaults to `NodePort`. */
    readonly type?: ServiceType;
    /** Node port of the REST port, NodePort only. Defaults to `DEFAULT_NODE_PORT` (30111). */
    readonly nodePort?: number;
}

/** A Service exposing REST (`http`) and gRPC (`grpc`). */
export class ModelService extends pulumi.ComponentResource {
    /** The Service's name in the cluster, which clients and the endpoint URL use. */
    public readonly serviceName: pulumi.Output<string>;
    /** The Service object. */
    public readonly service: k8s.core.v1.Service;
    /**
     * REST base URL on the Service's cluster IP, for callers inside the cluster network without
     * cluster DNS (the smoke check of one track; the local cluster routes the host there).
     */
    public readonly clusterUrl: pulumi.Output<string>;

    constructor(name: string, args: ModelServiceArgs, opts?: pulumi.ComponentResourceOptions) {
        super("tfk8s:serving:ModelService", name, {}, opts);
        const type = args.type ?? DEFAULT_SERVICE_TYPE;
        const nodePort = type === "NodePort" ? (args.nodePort ?? DEFAULT_NODE_PORT) : args.nodePort;
        checkNodePort(type, nodePort, this);
        this.service = new k8s.core.v1.Service(
            `${name}-svc`,
            {
                metadata: objectMeta(args),
                spec: {
                    type,
                    selector: args.selector,
                    ports: [
                        { name: "http", port: REST_PORT, targetPort: "http", nodePort },
                        { name: "grpc", port: GRPC_PORT, targetPort: "grpc" },
                    ],
                },
            },
            { parent: this },
        );
        this.serviceName = this.service.metadata.name;
        this.clusterUrl = pulumi.interpolate`http://${this.service.spec.clusterIP}:${REST_PORT}`;
        this.registerOutputs({
            serviceName: this.serviceName,
            service: this.service,
            clusterUrl: this.clusterUrl,
        });
    }
}
