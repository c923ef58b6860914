/**
 * One track of a served model, stable or canary: its Deployment, and with a canary its own
 * ClusterIP Service and disruption budget. ModelServing uses it once per track, so both tracks
 * are built by the same code.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { SettingError } from "../programErrors";
import { DeploymentSpecArgs, deploymentArgs } from "./deploymentSpec";
import { ModelService } from "./modelService";
import { objectMeta } from "./objectMeta";
import { checkResources } from "./resources";

/** The pod label that names a pod's track, `stable` or `canary`. */
export const TRACK_LABEL = "tfk8s.dev/track";
/** A track: the stable model, or a canary served next to it. */
export type Track = "stable" | "canary";

/** How a track's disruption budget keeps its pods: a count that stays, or one that may go. */
export type DisruptionBudget =
    { readonly minAvailable: number } | { readonly maxUnavailable: number };

/** A track as a plan describes it: everything but what exists only once the engine runs. */
export interface TrackSettings extends Omit<
    DeploymentSpecArgs,
    "image" | "namespace" | "imagePullSecret"
> {
    /** Which track. */
    readonly track: Track;
    /** The track's own ClusterIP Service, by Pulumi and object name; none when undefined. */
    readonly service?: { readonly name: string; readonly objectName: string };
    /** A PodDisruptionBudget over the track's pods; none when undefined. */
    readonly disruptionBudget?: DisruptionBudget;
}

/** Inputs of a ModelTrack: the plan's settings plus the image and where the objects go. */
export interface ModelTrackArgs extends TrackSettings {
    /** Image reference of the track's model, by digest wherever it was pushed. */
    readonly image: pulumi.Input<string>;
    /** Namespace. Defaults to the provider's. */
    readonly namespace?: pulumi.Input<string>;
    /** Name of an image pull Secret, for private registries. */
    readonly imagePullSecret?: pulumi.Input<string>;
}

/**
 * Before tracks had a component, a track's Deployment sat in a ModelDeployment of the track's
 * name, and its Service and budget right under the ModelServing. These aliases let stacks
 * deployed then update in place (test/integration/previewStability.integration.ts).
 */
const FORMER_TYPE = "tfk8s:serving:ModelDeployment";

/** The objects of one track. */
export class ModelTrack extends pulumi.ComponentResource {
    /** The Deployment object. */
    public readonly deployment: k8s.apps.v1.Deployment;
    /** The Deployment's name in the cluster, which the autoscaler targets. */
    public readonly deploymentName: pulumi.Output<string>;
    /** The track's own ClusterIP Service, to reach this track alone. */
    public readonly service?: ModelService;
    /** The budget that keeps the track's pods through node drains. */
    public readonly disruptionBudget?: k8s.policy.v1.PodDisruptionBudget;

    constructor(name: string, args: ModelTrackArgs, opts?: pulumi.ComponentResourceOptions) {
        super(
            "tfk8s:serving:ModelTrack",
            name,
            {},
            {
                ...opts,
                aliases: [...(opts?.aliases ?? []), { type: FORMER_TYPE }],
            },
        );
        checkTrack(args, this);
        const formerParent = {
            aliases: opts?.parent === undefined ? [] : [{ parent: opts.parent }],
        };
        this.deployment = new k8s.apps.v1.Deployment(`${name}-deployment`, deploymentArgs(args), {
            parent: this,
        });
        this.deploymentName = this.deployment.metadata.name;
        if (args.service !== undefined) {
            this.service = new ModelService(
                args.service.name,
                {
                    objectName: args.service.objectName,
                    objectAnnotations: args.objectAnnotations,
                    selector: args.labels,
                    labels: args.labels,
                    namespace: args.namespace,
                    type: "ClusterIP",
                },
                { parent: this, ...formerParent },
            );
        }
        if (args.disruptionBudget !== undefined) {
            this.disruptionBudget = new k8s.policy.v1.PodDisruptionBudget(
                `${name}-pdb`,
                {
                    metadata: objectMeta({
                        objectName: args.objectName,
                        namespace: args.namespace,
                        labels: args.labels,
                    }),
                    spec: { ...args.disruptionBudget, selector: { matchLabels: args.labels } },
                },
                { parent: this, ...formerParent },
            );
        }
        this.registerOutputs({
            deployment: this.deployment,
            deploymentName: this.deploymentName,
            service: this.service,
            disruptionBudget: this.disruptionBudget,
        });
    }
}

/** Throws a SettingError at the first of the track's settings the API server would refuse. */
function checkTrack(args: ModelTrackArgs, resource: pulumi.Resource): void {
    if (!Number.isInteger(args.replicas) || args.replicas < 1) {
        throw new SettingError("replicas", args.replicas, "an integer >= 1", { resource });
    }
    checkResources(args.resources, resource);
    const gpu = args.gpu;
    if (gpu !== undefined && (!Number.isInteger(gpu.count) || gpu.count < 1)) {
        throw new SettingError(
            "gpu.count",
            gpu.count,
            "an integer >= 1 (leave gpu out for CPU serving)",
            { resource },
        );
    }
}
