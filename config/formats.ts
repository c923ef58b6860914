/**
 * The text formats of config values, parsed into what the components take: comma-separated
 * lists, label lists, taints to tolerate, a Gateway parent, host names. Each parser throws the
 * SettingError of the key it reads, naming the value and the format expected.
 */
import { Toleration, TAINT_EFFECTS } from "../components/deploymentSpec";
import { GatewaySettings } from "../components/modelRoute";
import { ConfigKey } from "../configKeys";
import { DEFAULT_GPU_TOLERATIONS } from "../defaults";
import { fail } from "./reader";

/** RFC 1123 label: what Kubernetes accepts as a namespace or Secret name. */
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** A DNS-1123 subdomain of at most 253 characters: an object name such as a Gateway's. */
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** Gateway API's `Hostname`: a DNS name, optionally with one leading `*.` label. */
const HOSTNAME = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** A label name or value: 63 characters at most, alphanumeric at both ends. */
const LABEL_PART = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;
/** An optional DNS subdomain prefix of a label key (`example.com/`). */
const LABEL_PREFIX = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** The items of a comma-separated list, trimmed, empty ones dropped; none for undefined. */
export function parseList(text: string | undefined): string[] {
    return (text ?? "")
        .split(",")
        .map((item) => item.trim())
        .filter((item) => item !== "");
}

/** Whether `key` is a label key: `[prefix/]name`, as Kubernetes checks it. */
function isLabelKey(key: string): boolean {
    const slash = key.lastIndexOf("/");
    const prefix = slash < 0 ? undefined : key.slice(0, slash);
    const name = key.slice(slash + 1);
    const prefixOk = prefix === undefined || (prefix.length <= 253 && LABEL_PREFIX.test(prefix));
    return prefixOk && name !== "" && LABEL_PART.test(name);
}

/**
 * Parses config key `key`'s `key=value,key=value` into labels (Kubernetes' label syntax: keys
 * `[prefix/]name`, names and values of 63 characters). `what` names the labels (pod labels, node
 * labels) and `example` shows some.
 */
export function parseLabelList(
    key: ConfigKey,
    text: string,
    what: string,
    example: string,
): Record<string, string> {
    const labels: Record<string, string> = {};
    const expected = `comma-separated key=value ${what}, e.g. ${example}`;
    for (const pair of text.split(",").map((p) => p.trim())) {
        const eq = pair.indexOf("=");
        const name = pair.slice(0, Math.max(eq, 0));
        const value = pair.slice(eq + 1);
        if (eq <= 0 || !isLabelKey(name) || !LABEL_PART.test(value)) fail(key, text, expected);
        if (name in labels) fail(key, text, `${expected}, each key once (${name} repeats)`);
        labels[name] = value;
    }
    return labels;
}

/**
 * Parses config key `key`'s `key[=value][:effect],...` into tolerations, or none for `none`. A
 * key alone tolerates any value of it, and no effect tolerates every effect.
 */
export function parseTolerations(key: ConfigKey, text: string): Toleration[] {
    if (text === "none") return [];
    const expected = `comma-separated taints as key[=value][:effect], the effect one of ${TAINT_EFFECTS.join(", ")}, e.g. ${DEFAULT_GPU_TOLERATIONS}, or none`;
    return text.split(",").map((item) => {
        const trimmed = item.trim();
        const colon = trimmed.lastIndexOf(":");
        const effect = colon < 0 ? undefined : trimmed.slice(colon + 1);
        const taint = colon < 0 ? trimmed : trimmed.slice(0, colon);
        const eq = taint.indexOf("=");
        const name = eq < 0 ? taint : taint.slice(0, eq);
        const value = eq < 0 ? undefined : taint.slice(eq + 1);
        if (
            !isLabelKey(name) ||
            (value !== undefined && (value === "" || !LABEL_PART.test(value))) ||
            (effect !== undefined && !(TAINT_EFFECTS as readonly string[]).includes(effect))
        ) {
            fail(key, text, expected);
        }
        return {
            key: name,
            operator: value === undefined ? "Exists" : "Equal",
            ...(value === undefined ? {} : { value }),
            ...(effect === undefined ? {} : { effect: effect as Toleration["effect"] }),
        };
    });
}

/** Parses config key `key`'s Gateway parent, `[namespace/]name`. */
export function parseGatewayParent(
    key: ConfigKey,
    text: string,
): Pick<GatewaySettings, "parentName" | "parentNamespace"> {
    const parts = text.split("/");
    const [namespace, name] = parts.length === 2 ? parts : [undefined, parts[0]];
    if (
        parts.length > 2 ||
        name.length > 253 ||
        !DNS_SUBDOMAIN.test(name) ||
        (namespace !== undefined && !DNS_LABEL.test(namespace))
    ) {
        fail(
            key,
            text,
            "a Gateway as name or namespace/name (a lowercase RFC 1123 namespace and object name)",
        );
    }
    return namespace === undefined
        ? { parentName: name }
        : { parentName: name, parentNamespace: namespace };
}

/** Parses config key `key`'s comma-separated route host names. */
export function parseHostnames(key: ConfigKey, text: string | undefined): string[] {
    const hostnames = parseList(text);
    if (hostnames.some((h) => h.length > 253 || !HOSTNAME.test(h))) {
        fail(
            key,
            text,
            "lowercase DNS host names, comma-separated, each optionally starting with *. (no scheme, no port)",
        );
    }
    return hostnames;
}

/** Parses config key `key`'s comma-separated namespace names. */
export function parseNamespaces(key: ConfigKey, text: string | undefined): string[] {
    const namespaces = parseList(text);
    const bad = namespaces.find((n) => !DNS_LABEL.test(n));
    if (bad !== undefined) {
        fail(
            key,
            text,
            `comma-separated namespace names (${JSON.stringify(bad)} is not a lowercase RFC 1123 label)`,
        );
    }
    return namespaces;
}
