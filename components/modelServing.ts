/**
 * Everything that serves one model: a track per model (its Deployment, and with a canary its own
 * Service and budget), one Service over every track's pods, and, when configured, the namespace,
 * the pull Secret, a Gateway route, an autoscaler and a NetworkPolicy. What to create comes from
 * `planServing`; this file only creates it.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { ModelNetworkPolicy } from "./modelNetworkPolicy";
import { ModelRoute, RouteBackend } from "./modelRoute";
import { ModelService } from "./modelService";
import { ModelTrack, Track, TrackSettings } from "./modelTrack";
import { ObjectMetaArgs, objectMeta } from "./objectMeta";
import { REST_PORT, RegistryArgs } from "./servingImage";
import { POD_SECURITY_LABELS, ServingPlan, TrackReplicas, planServing } from "./servingPlan";
import { ModelServingArgs } from "./servingSettings";

/** A served model and the URLs to call it. */
export class ModelServing extends pulumi.ComponentResource {
    /** REST base URL, e.g. `http://localhost:30111`. */
    public readonly endpoint: pulumi.Output<string>;
    /** `<endpoint>/v1/models/<name>:predict`. */
    public readonly predictUrl: pulumi.Output<string>;
    /** Pods per track; canary 0 without a canary. */
    public readonly replicasByTrack: TrackReplicas;
    /** The stable track, and the canary's when there is one. */
    public readonly tracks: { readonly stable: ModelTrack; readonly canary?: ModelTrack };
    /** The Service over every track's pods. */
    public readonly service: ModelService;
    /** The namespace, when the stack creates it. */
    public readonly namespace?: k8s.core.v1.Namespace;
    /** The image pull Secret, when the stack creates it from registry credentials. */
    public readonly pullSecret?: k8s.core.v1.Secret;
    /** The HTTPRoute, when a Gateway is named. */
    public readonly route?: ModelRoute;
    /** The HorizontalPodAutoscaler of the stable track, when autoscaling. */
    public readonly autoscaler?: k8s.autoscaling.v2.HorizontalPodAutoscaler;
    /** The NetworkPolicy, when callers are restricted. */
    public readonly networkPolicy?: ModelNetworkPolicy;

    constructor(name: string, args: ModelServingArgs, opts?: pulumi.ComponentResourceOptions) {
        super("tfk8s:serving:ModelServing", name, {}, opts);
        const plan = planServing(name, args, this);
        const parts = createServing(name, this, args, plan);
        this.replicasByTrack = plan.replicasByTrack;
        this.tracks = parts.tracks;
        this.service = parts.service;
        this.namespace = parts.namespace;
        this.pullSecret = parts.pullSecret;
        this.route = parts.route;
        this.autoscaler = parts.autoscaler;
        this.networkPolicy = parts.networkPolicy;
        this.endpoint =
            plan.nodeEndpoint !== undefined
                ? pulumi.output(plan.nodeEndpoint)
                : pulumi.interpolate`http://${this.service.serviceName}.${plan.namespace}.svc.cluster.local:${REST_PORT}`;
        this.predictUrl = pulumi.interpolate`${this.endpoint}/v1/models/${args.modelName}:predict`;
        this.registerOutputs({
            endpoint: this.endpoint,
            predictUrl: this.predictUrl,
            replicasByTrack: this.replicasByTrack,
            tracks: this.tracks,
            service: this.service,
            namespace: this.namespace,
            pullSecret: this.pullSecret,
            route: this.route,
            autoscaler: this.autoscaler,
            networkPolicy: this.networkPolicy,
        });
    }
}

/** The children of ModelServing `parent`, as `plan` says. */
function createServing(
    name: string,
    parent: ModelServing,
    args: ModelServingArgs,
    plan: ServingPlan,
) {
    const child = { parent };
    const namespaceObject = plan.createNamespace ? createNamespace(name, plan, child) : undefined;
    // Every namespaced object takes the name through the Namespace's output, so it is created
    // after the Namespace and deleted before it.
    const namespace: pulumi.Input<string> | undefined =
        namespaceObject?.metadata.name ?? args.namespace;
    const shared = { objectName: plan.objectName, labels: plan.labels, namespace };
    const pullSecret =
        args.pullCredentials === undefined
            ? undefined
            : createPullSecret(
                  name,
                  args.pullCredentials,
                  { ...shared, objectName: `${plan.objectName}-pull` },
                  child,
              );
    const images: Record<Track, pulumi.Input<string> | undefined> = {
        stable: args.image,
        canary: args.canary?.image,
    };
    const [stable, canary] = plan.tracks.map(
        (t) =>
            new ModelTrack(
                t.name,
                {
                    ...t.settings,
                    image: images[t.settings.track] as pulumi.Input<string>,
                    namespace,
                    imagePullSecret: pullSecret?.metadata.name ?? args.imagePullSecret,
                },
                child,
            ),
    );
    const service = new ModelService(
        name,
        {
            ...shared,
            objectAnnotations: plan.objectAnnotations,
            selector: plan.labels,
            ...plan.service,
        },
        child,
    );
    const route =
        plan.route === undefined
            ? undefined
            : new ModelRoute(
                  name,
                  {
                      ...shared,
                      objectAnnotations: plan.objectAnnotations,
                      gateway: plan.route.gateway,
                      backends: routeBackends(service, stable, canary, plan.route.canaryWeight),
                  },
                  child,
              );
    return {
        namespace: namespaceObject,
        pullSecret,
        tracks: { stable, canary },
        service,
        route,
        autoscaler: createAutoscaler(name, args, plan.tracks[0].settings, stable, namespace, child),
        networkPolicy:
            args.networkAccess === undefined
                ? undefined
                : new ModelNetworkPolicy(
                      name,
                      { ...shared, podSelector: plan.labels, access: args.networkAccess },
                      child,
                  ),
    };
}

/** The namespace the stack creates, where Pod Security admission enforces `restricted`. */
function createNamespace(
    name: string,
    plan: ServingPlan,
    opts: pulumi.CustomResourceOptions,
): k8s.core.v1.Namespace {
    return new k8s.core.v1.Namespace(
        `${name}-namespace`,
        {
            metadata: {
                name: plan.namespace,
                labels: { "app.kubernetes.io/part-of": "tfk8s", ...POD_SECURITY_LABELS },
            },
        },
        opts,
    );
}

/** The route's backends: the shared Service, or each track's Service by its weight. */
function routeBackends(
    service: ModelService,
    stable: ModelTrack,
    canary: ModelTrack | undefined,
    canaryWeight: number | undefined,
): RouteBackend[] {
    if (
        canary?.service === undefined ||
        stable.service === undefined ||
        canaryWeight === undefined
    ) {
        return [{ serviceName: service.serviceName }];
    }
    return [
        { serviceName: stable.service.serviceName, weight: 100 - canaryWeight },
        { serviceName: canary.service.serviceName, weight: canaryWeight },
    ];
}

/**
 * A HorizontalPodAutoscaler on CPU for the stable track, named and labelled as its Deployment,
 * when autoscaling is configured.
 */
function createAutoscaler(
    name: string,
    args: ModelServingArgs,
    stable: TrackSettings,
    stableTrack: ModelTrack,
    namespace: pulumi.Input<string> | undefined,
    opts: pulumi.CustomResourceOptions,
): k8s.autoscaling.v2.HorizontalPodAutoscaler | undefined {
    const autoscaling = args.autoscaling;
    if (autoscaling === undefined) return undefined;
    const window = autoscaling.scaleDownWindowSeconds;
    return new k8s.autoscaling.v2.HorizontalPodAutoscaler(
        `${name}-hpa`,
        {
            metadata: objectMeta({
                objectName: stable.objectName,
                namespace,
                labels: stable.labels,
            }),
            spec: {
                scaleTargetRef: {
                    apiVersion: "apps/v1",
                    kind: "Deployment",
                    name: stableTrack.deploymentName,
                },
                minReplicas: stable.replicas,
                maxReplicas: autoscaling.maxReplicas,
                ...(window === undefined
                    ? {}
                    : { behavior: { scaleDown: { stabilizationWindowSeconds: window } } }),
                metrics: [
                    {
                        type: "Resource",
                        resource: {
                            name: "cpu",
                            target: {
                                type: "Utilization",
                                averageUtilization: autoscaling.cpuPercent,
                            },
                        },
                    },
                ],
            },
        },
        opts,
    );
}

/** The pods' image pull Secret, from registry credentials. */
function createPullSecret(
    name: string,
    registry: RegistryArgs,
    meta: ObjectMetaArgs,
    opts: pulumi.CustomResourceOptions,
): k8s.core.v1.Secret {
    return new k8s.core.v1.Secret(
        `${name}-pull-secret`,
        {
            metadata: objectMeta(meta),
            type: "kubernetes.io/dockerconfigjson",
            stringData: { ".dockerconfigjson": dockerConfigJson(registry) },
        },
        opts,
    );
}

/**
 * A `kubernetes.io/dockerconfigjson` payload for one registry, kept secret: the kubelet hands the
 * user name and password to the runtime for pulls from `server` only.
 */
function dockerConfigJson(registry: RegistryArgs): pulumi.Output<string> {
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
