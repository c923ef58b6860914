/**
 * A Gateway API `HTTPRoute` to the model's REST port, attached to a Gateway the user names. With a
 * canary it splits requests between the tracks' Services by exact weights, which a Service
 * splitting over ready pods cannot: the gateway sends `weight` percent to the canary whatever the
 * pod counts are. Fields as `gateway.networking.k8s.io/v1` defines them (Gateway API v1.6,
 * `apis/v1/httproute_types.go` and `shared_types.go`).
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { SettingError } from "../programErrors";
import { ObjectMetaArgs, objectMeta } from "./objectMeta";
import { REST_PORT } from "./servingImage";

/** The Gateway a route attaches to, and the host names it answers for. */
export interface GatewaySettings {
    /** The Gateway's name. */
    readonly parentName: string;
    /** The Gateway's namespace; the route's own when undefined. */
    readonly parentNamespace?: string;
    /** Host names the route matches; every host of the Gateway when empty. */
    readonly hostnames: readonly string[];
}

/** One backend of the route: a Service on the REST port, with its weight when there are two. */
export interface RouteBackend {
    readonly serviceName: pulumi.Input<string>;
    readonly weight?: number;
}

/** Inputs of a ModelRoute. */
export interface ModelRouteArgs extends ObjectMetaArgs {
    readonly gateway: GatewaySettings;
    /** The Services requests go to; weights in percent when there is a canary. */
    readonly backends: readonly RouteBackend[];
}

/** The HTTPRoute. */
export class ModelRoute extends pulumi.ComponentResource {
    /** The route's name in the cluster. */
    public readonly routeName: pulumi.Output<string>;

    constructor(name: string, args: ModelRouteArgs, opts?: pulumi.ComponentResourceOptions) {
        super("tfk8s:serving:ModelRoute", name, {}, opts);
        const total = args.backends.reduce((sum, b) => sum + (b.weight ?? 0), 0);
        if (args.backends.length > 1 && total !== 100) {
            throw new SettingError(
                "backends",
                args.backends.map((b) => b.weight),
                `weights in percent adding up to 100, not ${total}`,
                { resource: this },
            );
        }
        const { gateway } = args;
        const route = new k8s.apiextensions.CustomResource(
            `${name}-httproute`,
            {
                apiVersion: "gateway.networking.k8s.io/v1",
                kind: "HTTPRoute",
                metadata: objectMeta(args),
                spec: {
                    parentRefs: [
                        {
                            group: "gateway.networking.k8s.io",
                            kind: "Gateway",
                            name: gateway.parentName,
                            ...(gateway.parentNamespace === undefined
                                ? {}
                                : { namespace: gateway.parentNamespace }),
                        },
                    ],
                    ...(gateway.hostnames.length === 0 ? {} : { hostnames: gateway.hostnames }),
                    rules: [
                        {
                            backendRefs: args.backends.map((b) => ({
                                kind: "Service",
                                name: b.serviceName,
                                port: REST_PORT,
                                ...(b.weight === undefined ? {} : { weight: b.weight }),
                            })),
                        },
                    ],
                },
            },
            { parent: this },
        );
        this.routeName = route.metadata.name;
        this.registerOutputs({ routeName: this.routeName });
    }
}
