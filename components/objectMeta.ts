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

/** A label name or value: 63 characters at most, alphanumeric at both ends. */
const LABEL_PART = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;
/** An optional DNS subdomain prefix of a label key (`example.com/`). */
const LABEL_PREFIX = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Whether `key` is a label key: `[prefix/]name`, as Kubernetes checks it. */
export function isLabelKey(key: string): boolean {
    const slash = key.lastIndexOf("/");
    const prefix = slash < 0 ? undefined : key.slice(0, slash);
    const name = key.slice(slash + 1);
    const prefixOk = prefix === undefined || (prefix.length <= 253 && LABEL_PREFIX.test(prefix));
    return prefixOk && name !== "" && LABEL_PART.test(name);
}

/** Whether `value` is a label value (possibly empty). */
export function isLabelValue(value: string): boolean {
    return LABEL_PART.test(value);
}

/**
 * Parses `key=value,key=value` into labels; a string saying what was expected when `text` is
 * not that (Kubernetes' label syntax: keys `[prefix/]name`, names and values of 63 characters).
 * `what` names the labels (pod labels, node labels) and `example` shows some.
 */
export function parseLabelList(
    text: string,
    what: string,
    example: string,
): Record<string, string> | string {
    const labels: Record<string, string> = {};
    const expected = `comma-separated key=value ${what}, e.g. ${example}`;
    for (const pair of text.split(",").map((p) => p.trim())) {
        const eq = pair.indexOf("=");
        if (eq <= 0) return expected;
        const key = pair.slice(0, eq);
        const value = pair.slice(eq + 1);
        if (!isLabelKey(key) || !isLabelValue(value)) return expected;
        if (key in labels) return `${expected}, each key once (${key} repeats)`;
        labels[key] = value;
    }
    return labels;
}
