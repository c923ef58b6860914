/**
 * What a ModelServing is told: the stack config's `serving` slice (what config reads and parses),
 * plus the images and models of its tracks. Types only; `servingPlan.ts` checks and plans them.
 */
import * as pulumi from "@pulumi/pulumi";
import { GpuSettings } from "./deploymentSpec";
import { NetworkAccess } from "./modelNetworkPolicy";
import { GatewaySettings } from "./modelRoute";
import { ServiceType } from "./modelService";
import { ResourceSizes } from "./resources";
import { RegistryArgs } from "./servingImage";

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
