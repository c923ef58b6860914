/**
 * CPU, memory and local disk of a serving pod: Kubernetes quantities, and the rule the API server
 * applies to them (no request above its own limit).
 */
import * as pulumi from "@pulumi/pulumi";
import { SettingError } from "../programErrors";

/** CPU, memory and local disk for one pod. */
export interface ResourceSizes {
    readonly cpuRequest: string;
    readonly cpuLimit: string;
    readonly memoryRequest: string;
    readonly memoryLimit: string;
    readonly ephemeralStorageRequest: string;
    readonly ephemeralStorageLimit: string;
}

/** Each request and the limit it may not exceed. */
const REQUEST_LIMITS = [
    ["cpuRequest", "cpuLimit"],
    ["memoryRequest", "memoryLimit"],
    ["ephemeralStorageRequest", "ephemeralStorageLimit"],
] as const;

/** Kubernetes resource quantities (`250m`, `1`, `0.5`, `512Mi`, `1e3`, `2G`). */
const QUANTITY = /^[+]?(\d+(?:\.\d*)?|\.\d+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?\d+)?$/;
const SUFFIX: Readonly<Record<string, number>> = {
    m: 1e-3,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    P: 1e15,
    E: 1e18,
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
    Pi: 2 ** 50,
    Ei: 2 ** 60,
};
/** How a bad quantity is described. */
const QUANTITY_EXPECTED = "a Kubernetes quantity such as 250m, 1, 512Mi or 2Gi";

/** The value of a Kubernetes quantity, or undefined when `text` is not one. */
function quantityValue(text: string): number | undefined {
    const m = QUANTITY.exec(text);
    if (m === null) return undefined;
    const suffix = m[2] ?? "";
    const scale = /^[eE]/.test(suffix) ? 10 ** Number(suffix.slice(1)) : (SUFFIX[suffix] ?? 1);
    return Number(m[1]) * scale;
}

/**
 * Throws a SettingError (`resources.<field>`) at the first size that is no quantity, or at a
 * request above its own limit, which the API server would refuse.
 */
export function checkResources(r: ResourceSizes, resource?: pulumi.Resource): void {
    const refuse = (field: keyof ResourceSizes, expected: string): never => {
        throw new SettingError(`resources.${field}`, r[field], expected, { resource });
    };
    for (const field of REQUEST_LIMITS.flat()) {
        if (quantityValue(r[field]) === undefined) refuse(field, QUANTITY_EXPECTED);
    }
    for (const [request, limit] of REQUEST_LIMITS) {
        if ((quantityValue(r[request]) as number) > (quantityValue(r[limit]) as number)) {
            refuse(request, `at most ${limit} (${r[limit]})`);
        }
    }
}
