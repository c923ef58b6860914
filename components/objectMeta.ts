/**
 * The metadata every object of a served model carries: one name, namespace, labels object and
 * annotations, given once by `ModelServing` and used by each child the same way.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

/** Metadata fields a child component takes from its parent. */
export interface ObjectMetaArgs {
    /** Kubernetes object name. Defaults to Pulumi's auto-naming. */
    readonly objectName?: string;
    /** Annotations of the object itself (not its pods). */
    readonly objectAnnotations?: Record<string, string>;
    /** Labels of the object. */
    readonly labels: Record<string, string>;
    /** Namespace. Defaults to the provider's. */
    readonly namespace?: pulumi.Input<string>;
}

/** The object's `metadata` from `args`. */
export function objectMeta(args: ObjectMetaArgs): k8s.types.input.meta.v1.ObjectMeta {
    return {
        name: args.objectName,
        namespace: args.namespace,
        labels: args.labels,
        annotations: args.objectAnnotations,
    };
}
